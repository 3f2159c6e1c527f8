// Package mqtt is edgeflow's MQTT connection: a paho client shared by any
// number of mqtt sources and sinks, with its own reconnect loop, in-order
// acknowledgement of received messages once the pipeline has delivered them,
// and an optional embedded broker (mochi-mqtt). docs/mqtt.md describes the
// delivery guarantees.
//
// conn.go holds the Conn's life cycle; supervise.go the reconnect loop;
// subscription.go and dispatch.go route received messages to subscribers;
// ack.go acknowledges them in arrival order once settled; publish.go is the
// sinks' publishing client; topic.go checks and matches topic filters;
// embedded.go runs the optional broker.
package mqtt

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/edgeflow/edgeflow/internal/redact"
	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/rs/zerolog"
)

// errNotStarted is returned by PublishAsync before Start.
var errNotStarted = errors.New("mqtt: connection not started")

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
	pubUp upSignal // fired when the publisher (re)connects
	// pubNet is the publisher's latest buffered TCP connection, which
	// QoS 0 publishes are written to directly (publish0.go).
	pubNet   atomic.Pointer[bufferedConn]
	plainTCP atomic.Bool // the broker is on tcp:// or mqtt:// (set by Start)

	// The inbox: received messages waiting for the feeder (dispatch.go).
	inMu       sync.Mutex
	inbox      []arrival
	inWake     chan struct{} // the feeder: the inbox has messages
	hold       atomic.Bool   // the feeder routes nothing (see quiesce)
	acking     atomic.Int32  // batches taken from ready and being sent
	holdWake   chan struct{} // the feeder: hold was lifted
	inRoom     chan struct{} // dispatch: room in the inbox, or a handshake began
	handshakes atomic.Int32  // connects and subscribes under way

	ackMu    sync.Mutex
	ready    []toAck // settled, to be acknowledged in this order
	ackWake  chan struct{}
	spare    []toAck      // the ack loop's: the batch before last, for reuse
	pubacks  []byte       // the ack loop's: PUBACK packets being written
	stranded atomic.Int64 // unacknowledged messages on the current network connection
	strandCh chan struct{}

	attempts   attempts // failed deliveries by packet id, for max_deliver
	hadSession bool     // a previous connect of this process had a persistent session

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
	if opts.ClientID == "" && opts.URL == Embedded {
		// The broker lives and dies with this process: any id that is
		// stable while it runs keeps the session.
		opts.ClientID = "edgeflow-" + name
	}
	c := &Conn{opts: opts, name: name, log: log.With().Str("connection", name).Logger(),
		ackWake: make(chan struct{}, 1), inWake: make(chan struct{}, 1), holdWake: make(chan struct{}, 1), inRoom: make(chan struct{}, 1), strandCh: make(chan struct{}, 1),
		lost: make(chan error, 1), stop: make(chan struct{})}
	c.acks = newAckQueue(c)
	return c, nil
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
	switch po.Servers[0].Scheme {
	case "tcp", "mqtt":
		c.plainTCP.Store(true)
		fallthrough
	case "ssl", "tls", "mqtts", "mqtt+ssl", "tcps":
		po.SetCustomOpenConnectionFn(c.openSubscriber(openWatched(c.networkDown)))
	}
	cl := paho.NewClient(po)
	c.mu.Lock()
	c.client, c.address = cl, broker
	c.mu.Unlock()

	first := make(chan error, 1)
	c.wg.Go(c.ackLoop)
	c.wg.Go(c.feed)
	c.wg.Go(func() { c.supervise(cl, first) })
	select {
	case err = <-first:
	case <-ctx.Done():
		err = ctx.Err()
	}
	if err != nil && (c.opts.ConnectRequired || ctx.Err() != nil) {
		c.Close(context.WithoutCancel(ctx))
		return fmt.Errorf("mqtt connection %q: %s", c.name, redact.Error(err))
	}
	if err != nil {
		c.log.Warn().Str("error", redact.Error(err)).Str("url", redact.Text(c.opts.URL)).Msg("broker unreachable; starting anyway and retrying")
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
		SetStore(newSessionStore()).
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
		// ack queue relies on; dispatch only queues (see dispatch.go).
		SetOrderMatters(true).
		SetDefaultPublishHandler(c.dispatch).
		SetConnectionLostHandler(func(_ paho.Client, err error) {
			select {
			case c.lost <- err:
			default:
			}
		})
	if u.Scheme == "tcp" || u.Scheme == "mqtt" {
		po.SetCustomOpenConnectionFn(openTCP)
	}
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

// Connected reports whether the connection is up.
func (c *Conn) Connected() bool { return c.connected.Load() }

// Close acknowledges what has been settled, disconnects and stops the
// embedded broker. Subscriptions stay at the broker (persistent session).
func (c *Conn) Close(ctx context.Context) error {
	c.stopOnce.Do(func() {
		close(c.stop)
		c.wg.Wait()   // the supervisor, the feeder and the ack loop
		c.flushAcks() // whatever was settled since
		c.mu.Lock()
		cl := c.client
		c.mu.Unlock()
		if cl != nil && cl.IsConnectionOpen() {
			c.disconnect(cl)
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

// ackBarrier is a topic filter no subscription uses. Unsubscribing from it
// is a harmless round trip: the broker answers with an UNSUBACK even when
// nothing was subscribed (MQTT-3.10.4-5), and only after it has processed
// the packets sent before it on the connection.
const ackBarrier = "edgeflow/ack-barrier"

// disconnect ends cl's network connection once the broker has processed the
// PUBACKs already handed to paho. paho writes DISCONNECT right behind them
// and closes the socket at once, so they may still be unread at the broker
// when the same client id connects again (a restart, a pipeline reload, a
// redelivery reconnect): the broker then takes the session over, discards
// the old connection's unread PUBACKs and sends those messages again,
// although they were delivered. Mosquitto does this.
// networkDown ends the current network connection's ack queue when its
// socket fails, before paho gets round to reporting the loss.
func (c *Conn) networkDown() {
	c.mu.Lock()
	q := c.acks
	c.mu.Unlock()
	q.end()
}

func (c *Conn) disconnect(cl paho.Client) {
	tok := cl.Unsubscribe(ackBarrier)
	if !tok.WaitTimeout(time.Second) {
		c.log.Warn().Msg("broker did not confirm the final acknowledgements in time; disconnecting anyway")
	} else if err := tok.Error(); err != nil {
		c.log.Debug().Err(err).Msg("final acknowledgements unconfirmed")
	}
	cl.Disconnect(1000)
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
