// Package mqtt is edgeflow's MQTT connection: a paho client shared by any
// number of mqtt sources and sinks, with its own reconnect loop, in-order
// acknowledgement of received messages once the pipeline has delivered them,
// and an optional embedded broker (mochi-mqtt). docs/mqtt.md describes the
// delivery guarantees.
package mqtt

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/rs/zerolog"
)

// ErrNotStarted is returned by Publish before Start.
var ErrNotStarted = errors.New("mqtt: connection not started")

// Conn is a shared MQTT connection. Build it with New (no I/O), Register
// subscriptions, then Start; Close ends it.
type Conn struct {
	opts Options
	name string
	log  zerolog.Logger

	mu         sync.Mutex
	subs       []*Subscription
	acks       *ackQueue   // of the current network connection
	client     paho.Client // subscribes; its router must never wait on a publish
	broker     *mochi.Server
	brokerLogs *zerologWriter
	started    bool
	address    string // the broker's URL as dialled (embedded resolved)

	// pub publishes for the sinks, on a network connection of its own: the
	// subscribing client's single router goroutine blocks while a source
	// applies backpressure, and would then never read the PUBACKs a sink
	// on the same client waits for.
	pubMu sync.Mutex
	pub   paho.Client

	ackMu    sync.Mutex
	ready    []paho.Message // settled, to be acknowledged in this order
	ackWake  chan struct{}
	stranded atomic.Int64 // unacknowledged messages on the current network connection
	strandCh chan struct{}

	lost      chan error
	stop      chan struct{}
	stopOnce  sync.Once
	wg        sync.WaitGroup
	connected atomic.Bool
	stats     counters
}

// New returns an unstarted connection. name labels logs and metrics.
func New(name string, opts Options, log zerolog.Logger) (*Conn, error) {
	if err := opts.check(); err != nil {
		return nil, fmt.Errorf("mqtt connection %q: %s: %s", name, err.field, err.msg)
	}
	if opts.ConnectTimeout <= 0 {
		opts.ConnectTimeout = 10 * time.Second
	}
	if opts.ReconnectMin <= 0 {
		opts.ReconnectMin = 250 * time.Millisecond
	}
	if opts.ReconnectMax < opts.ReconnectMin {
		opts.ReconnectMax = max(10*time.Second, opts.ReconnectMin)
	}
	if opts.Keepalive <= 0 {
		opts.Keepalive = 30 * time.Second
	}
	if opts.RedeliveryDelay <= 0 {
		opts.RedeliveryDelay = 5 * time.Second
	}
	if opts.EmbeddedListen == "" {
		opts.EmbeddedListen = "127.0.0.1:1883"
	}
	c := &Conn{opts: opts, name: name, log: log.With().Str("connection", name).Logger(),
		ackWake: make(chan struct{}, 1), strandCh: make(chan struct{}, 1),
		lost: make(chan error, 1), stop: make(chan struct{})}
	c.acks = &ackQueue{conn: c}
	return c, nil
}

// Register adds a subscription for filters at qos. It does no I/O: the
// broker subscription is made on (every) connect, and by Subscription.Open
// when already connected. Registering before Start means messages the broker
// holds for the persistent session find their subscriber at once.
// maxInFlight bounds the deliveries the subscriber holds unsettled.
func (c *Conn) Register(filters []string, qos byte, maxInFlight int) (*Subscription, error) {
	if qos > 2 {
		return nil, fmt.Errorf("qos %d: want 0, 1 or 2", qos)
	}
	if len(filters) == 0 {
		return nil, errors.New("no topic filters")
	}
	s := &Subscription{conn: c, filters: filters, qos: qos,
		c: make(chan *Delivery, maxInFlight), slots: make(chan struct{}, maxInFlight), closed: make(chan struct{})}
	for _, f := range filters {
		if err := ValidFilter(f); err != nil {
			return nil, fmt.Errorf("topic filter %q: %w", f, err)
		}
		m, _ := SharedFilter(f)
		s.match = append(s.match, m)
	}
	c.mu.Lock()
	c.subs = append(c.subs, s)
	c.mu.Unlock()
	return s, nil
}

// Open makes sure the broker has the subscription now, when the connection
// is up; otherwise the next connect makes it.
func (s *Subscription) Open(ctx context.Context) error {
	c := s.conn
	c.mu.Lock()
	cl := c.client
	c.mu.Unlock()
	if cl == nil || !c.connected.Load() {
		return nil
	}
	return c.subscribe(ctx, cl, []*Subscription{s})
}

func (c *Conn) removeSub(s *Subscription) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, x := range c.subs {
		if x == s {
			c.subs = append(c.subs[:i], c.subs[i+1:]...)
			return
		}
	}
}

// Start starts the embedded broker if asked for, then connects in the
// background. It waits for the first attempt; only with ConnectRequired does
// a failed attempt fail Start.
func (c *Conn) Start(ctx context.Context) error {
	c.mu.Lock()
	if c.started {
		c.mu.Unlock()
		return errors.New("mqtt: connection already started")
	}
	c.started = true
	c.mu.Unlock()

	broker := c.opts.URL
	if broker == Embedded {
		srv, logs, err := startEmbedded(c.opts, c.log)
		if err != nil {
			return fmt.Errorf("mqtt connection %q: %w", c.name, err)
		}
		c.broker, c.brokerLogs = srv, logs
		broker = "tcp://" + c.opts.EmbeddedListen
	}
	po, err := c.clientOptions(broker)
	if err != nil {
		c.stopBroker()
		return fmt.Errorf("mqtt connection %q: %w", c.name, err)
	}
	cl := paho.NewClient(po)
	c.mu.Lock()
	c.client, c.address = cl, broker
	c.mu.Unlock()

	first := make(chan error, 1)
	c.wg.Go(c.ackLoop)
	c.wg.Go(func() { c.supervise(cl, first) })
	select {
	case err = <-first:
	case <-ctx.Done():
		err = ctx.Err()
	}
	if err != nil && (c.opts.ConnectRequired || ctx.Err() != nil) {
		c.Close(context.WithoutCancel(ctx))
		return fmt.Errorf("mqtt connection %q: %w", c.name, err)
	}
	if err != nil {
		c.log.Warn().Err(err).Str("url", c.opts.URL).Msg("broker unreachable; starting anyway and retrying")
	}
	return nil
}

func (c *Conn) clientOptions(broker string) (*paho.ClientOptions, error) {
	u, err := url.Parse(broker)
	if err != nil {
		return nil, fmt.Errorf("url: %w", err)
	}
	password, err := c.opts.secret()
	if err != nil {
		return nil, err
	}
	tlsCfg, err := c.opts.tlsConfig()
	if err != nil {
		return nil, err
	}
	po := paho.NewClientOptions().AddBroker(u.String()).
		SetClientID(c.opts.ClientID).
		SetCleanSession(c.opts.CleanSession).
		SetKeepAlive(c.opts.Keepalive).
		SetPingTimeout(max(c.opts.Keepalive/2, time.Second)).
		SetConnectTimeout(c.opts.ConnectTimeout).
		SetWriteTimeout(c.opts.ConnectTimeout).
		// We reconnect ourselves: jittered backoff, counting, and a fresh
		// ack queue per network connection (see supervise).
		SetAutoReconnect(false).
		SetConnectRetry(false).
		// Subscriptions are made by supervise after every connect.
		SetResumeSubs(false).
		// Acknowledge only once the pipeline has settled the message.
		SetAutoAckDisabled(true).
		// One router goroutine calls dispatch in arrival order, which the
		// ack queue relies on; dispatch blocks only on a full subscriber.
		SetOrderMatters(true).
		SetDefaultPublishHandler(c.dispatch).
		SetConnectionLostHandler(func(_ paho.Client, err error) {
			select {
			case c.lost <- err:
			default:
			}
		})
	if c.opts.Username != "" {
		po.SetUsername(c.opts.Username)
	}
	if password != "" {
		po.SetPassword(password)
	}
	if tlsCfg != nil {
		po.SetTLSConfig(tlsCfg)
	}
	return po, nil
}

// supervise owns the network connection: it connects, subscribes, waits for
// a loss (or for stranded messages to need redelivery), and reconnects with
// a jittered, capped, doubling pause. first receives the first attempt's
// outcome.
func (c *Conn) supervise(cl paho.Client, first chan<- error) {
	attempt := 0
	for {
		// A new ack queue per network connection: PUBACKs for messages of
		// an old connection are dropped by paho and must not hold up the
		// order of the new one.
		c.mu.Lock()
		c.acks = &ackQueue{conn: c}
		c.mu.Unlock()
		c.stranded.Store(0)

		err := c.connect(cl)
		if first != nil {
			first <- err
			first = nil
		}
		if err != nil {
			c.stats.connectFailures.Add(1)
			wait := c.backoff(attempt)
			attempt++
			c.log.Warn().Err(err).Int("attempt", attempt).Dur("retry_in", wait).Msg("mqtt connect failed")
			if !c.sleep(wait) {
				return
			}
			continue
		}
		attempt = 0
		c.stats.connects.Add(1)
		c.connected.Store(true)
		c.log.Info().Str("url", c.opts.URL).Msg("mqtt connected")

		reason, ok := c.connectedPhase(cl)
		c.connected.Store(false)
		if !ok {
			return
		}
		c.log.Warn().Str("reason", reason).Msg("mqtt connection down; reconnecting")
		if !c.sleep(c.backoff(0)) {
			return
		}
	}
}

// connectedPhase waits while connected. It returns why the connection ended,
// or ok=false when the Conn is closing.
func (c *Conn) connectedPhase(cl paho.Client) (reason string, ok bool) {
	var redeliver <-chan time.Time
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		select {
		case <-c.stop:
			return "", false
		case err := <-c.lost:
			c.stats.connectionLost.Add(1)
			return fmt.Sprintf("connection lost: %v", err), true
		case <-c.strandCh:
			if timer == nil {
				timer = time.NewTimer(c.opts.RedeliveryDelay)
				redeliver = timer.C
			}
		case <-redeliver:
			n := c.stranded.Load()
			if n == 0 {
				timer, redeliver = nil, nil
				continue
			}
			// MQTT 3.1.1 brokers resend unacknowledged messages only when
			// the session resumes: reconnect to get them back.
			c.stats.redeliveryReconnects.Add(1)
			cl.Disconnect(1000)
			// Drain a loss report the disconnect may have raced with.
			select {
			case <-c.lost:
			default:
			}
			return fmt.Sprintf("%d unacknowledged message(s) to be redelivered", n), true
		}
	}
}

// connect makes one attempt and subscribes every registered filter.
func (c *Conn) connect(cl paho.Client) error {
	tok := cl.Connect()
	if !tok.WaitTimeout(c.opts.ConnectTimeout + 5*time.Second) {
		return errors.New("connect timed out")
	}
	if err := tok.Error(); err != nil {
		return err
	}
	c.mu.Lock()
	subs := append([]*Subscription(nil), c.subs...)
	c.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), c.opts.ConnectTimeout)
	defer cancel()
	if err := c.subscribe(ctx, cl, subs); err != nil {
		cl.Disconnect(250)
		return err
	}
	return nil
}

func (c *Conn) subscribe(ctx context.Context, cl paho.Client, subs []*Subscription) error {
	filters := map[string]byte{}
	for _, s := range subs {
		for _, f := range s.filters {
			filters[f] = max(filters[f], s.qos)
		}
	}
	if len(filters) == 0 {
		return nil
	}
	tok := cl.SubscribeMultiple(filters, nil)
	select {
	case <-tok.Done():
	case <-ctx.Done():
		return fmt.Errorf("subscribe: %w", ctx.Err())
	}
	if err := tok.Error(); err != nil {
		return fmt.Errorf("subscribe: %w", err)
	}
	for f, granted := range tok.(*paho.SubscribeToken).Result() {
		if granted == 0x80 {
			return fmt.Errorf("broker refused the subscription to %q", f)
		}
		if granted < filters[f] {
			c.log.Warn().Str("filter", f).Uint8("asked", filters[f]).Uint8("granted", granted).Msg("broker granted a lower qos")
		}
	}
	return nil
}

// backoff is the pause before attempt n: ReconnectMin doubling up to
// ReconnectMax, with jitter in [d/2, d) so that many devices cut off by the
// same outage do not come back in lockstep.
func (c *Conn) backoff(n int) time.Duration {
	d := c.opts.ReconnectMin
	for i := 0; i < n && d < c.opts.ReconnectMax; i++ {
		d *= 2
	}
	d = min(d, c.opts.ReconnectMax)
	return d/2 + rand.N(d/2+1)
}

func (c *Conn) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-c.stop:
		return false
	}
}

// queueAcks hands settled messages, in order, to the ack loop and notes
// stranded (unacknowledged) ones. Called under the ack queue's lock.
func (c *Conn) queueAcks(ready []paho.Message, stranded int) {
	if len(ready) > 0 {
		c.ackMu.Lock()
		c.ready = append(c.ready, ready...)
		c.ackMu.Unlock()
		select {
		case c.ackWake <- struct{}{}:
		default:
		}
	}
	if stranded > 0 {
		c.strand(stranded)
	}
}

func (c *Conn) strand(n int) {
	c.stats.stranded.Add(uint64(n))
	c.stranded.Add(int64(n))
	select {
	case c.strandCh <- struct{}{}:
	default:
	}
}

// ackLoop sends PUBACKs (or PUBRECs) in order. paho's Ack may block on its
// outgoing queue, which is why settling does not call it directly.
func (c *Conn) ackLoop() {
	for {
		select {
		case <-c.ackWake:
			c.flushAcks()
		case <-c.stop:
			c.flushAcks()
			return
		}
	}
}

func (c *Conn) flushAcks() {
	for {
		c.ackMu.Lock()
		batch := c.ready
		c.ready = nil
		c.ackMu.Unlock()
		if len(batch) == 0 {
			return
		}
		for _, m := range batch {
			m.Ack()
		}
		c.stats.acked.Add(uint64(len(batch)))
	}
}

// Publish sends one message and waits until the broker has it: PUBACK for
// QoS 1, PUBCOMP for QoS 2, written to the socket for QoS 0.
func (c *Conn) Publish(ctx context.Context, topic string, qos byte, retain bool, payload []byte) error {
	tok, err := c.PublishAsync(topic, qos, retain, payload)
	if err != nil {
		return err
	}
	return c.Wait(ctx, tok)
}

// PublishAsync starts a publish; Wait for its token.
func (c *Conn) PublishAsync(topic string, qos byte, retain bool, payload []byte) (paho.Token, error) {
	cl, err := c.publisher()
	if err != nil {
		return nil, err
	}
	return cl.Publish(topic, qos, retain, payload), nil
}

// publisher returns the publishing client, creating it on first use. paho
// reconnects it; its session persists (when it has a client id) so that a
// publish made while it is down stays in paho's store and is sent once it is
// back — a clean session would empty that store on connect, and the
// publish's token would never complete.
func (c *Conn) publisher() (paho.Client, error) {
	c.pubMu.Lock()
	defer c.pubMu.Unlock()
	if c.pub != nil {
		return c.pub, nil
	}
	c.mu.Lock()
	address := c.address
	c.mu.Unlock()
	if address == "" {
		return nil, ErrNotStarted
	}
	select {
	case <-c.stop:
		return nil, errors.New("mqtt: connection closed")
	default:
	}
	po, err := c.clientOptions(address)
	if err != nil {
		return nil, err
	}
	id := ""
	if c.opts.ClientID != "" {
		id = c.opts.ClientID + "-pub"
	}
	po.SetClientID(id).SetCleanSession(id == "").
		SetAutoReconnect(true).SetConnectRetry(true).
		SetConnectRetryInterval(c.opts.ReconnectMin).SetMaxReconnectInterval(c.opts.ReconnectMax).
		SetAutoAckDisabled(false).SetOrderMatters(false).
		SetDefaultPublishHandler(nil).
		SetConnectionLostHandler(func(_ paho.Client, err error) {
			c.log.Warn().Err(err).Msg("mqtt publisher connection lost; reconnecting")
		})
	c.pub = paho.NewClient(po)
	// With ConnectRetry the token completes once connected. Wait for it
	// (bounded): paho does not reliably hold publishes, QoS 0 ones above
	// all, made before the first connection is up.
	if tok := c.pub.Connect(); !tok.WaitTimeout(c.opts.ConnectTimeout) {
		return nil, errors.New("mqtt: publisher not connected yet; retrying in the background")
	}
	return c.pub, nil
}

// Wait waits for a publish token, counting the outcome.
func (c *Conn) Wait(ctx context.Context, tok paho.Token) error {
	select {
	case <-tok.Done():
	case <-ctx.Done():
		c.stats.publishFailures.Add(1)
		return fmt.Errorf("mqtt publish: no confirmation from the broker: %w", ctx.Err())
	}
	if err := tok.Error(); err != nil {
		c.stats.publishFailures.Add(1)
		return fmt.Errorf("mqtt publish: %w", err)
	}
	c.stats.published.Add(1)
	return nil
}

// Connected reports whether the connection is up.
func (c *Conn) Connected() bool { return c.connected.Load() }

// Close acknowledges what has been settled, disconnects and stops the
// embedded broker. Subscriptions stay at the broker (persistent session).
func (c *Conn) Close(ctx context.Context) error {
	c.stopOnce.Do(func() {
		close(c.stop)
		c.wg.Wait()   // the supervisor and the ack loop
		c.flushAcks() // whatever was settled since
		c.mu.Lock()
		cl := c.client
		c.mu.Unlock()
		if cl != nil && cl.IsConnectionOpen() {
			cl.Disconnect(1000) // quiesce: lets the final PUBACKs out first
		}
		c.pubMu.Lock()
		if c.pub != nil {
			c.pub.Disconnect(250)
			c.pub = nil
		}
		c.pubMu.Unlock()
		c.connected.Store(false)
		c.stopBroker()
	})
	return nil
}

func (c *Conn) stopBroker() {
	if c.broker != nil {
		if err := c.broker.Close(); err != nil {
			c.log.Warn().Err(err).Msg("embedded broker close")
		}
		c.brokerLogs.silenced.Store(true)
		c.broker = nil
	}
}
