package mqtt

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/edgeflow/edgeflow/internal/redact"
)

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
		acks := newAckQueue(c)
		c.mu.Lock()
		c.acks = acks
		c.mu.Unlock()
		c.stranded.Store(0)
		c.hold.Store(false)
		signal(c.holdWake)

		err := c.connect(cl)
		if err != nil {
			acks.end()
		}
		if first != nil {
			first <- err
			first = nil
		}
		if err != nil {
			c.stats.connectFailures.Add(1)
			wait := c.backoff(attempt)
			attempt++
			c.log.Warn().Str("error", redact.Error(err)).Int("attempt", attempt).Dur("retry_in", wait).Msg("mqtt connect failed")
			if !c.sleep(wait) {
				return
			}
			continue
		}
		attempt = 0
		c.stats.connects.Add(1)
		c.connected.Store(true)
		c.log.Info().Str("url", redact.Text(c.opts.URL)).Msg("mqtt connected")

		reason, ok := c.connectedPhase(cl)
		c.connected.Store(false)
		acks.end()
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
			c.quiesce()
			c.disconnect(cl)
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
	defer c.beginHandshake()()
	tok := cl.Connect()
	if !tok.WaitTimeout(c.opts.ConnectTimeout + 5*time.Second) {
		return errors.New("connect timed out")
	}
	if err := tok.Error(); err != nil {
		return err
	}
	c.checkSession(tok.(*paho.ConnectToken).SessionPresent())
	c.mu.Lock()
	subs := append([]*Subscription(nil), c.subs...)
	c.mu.Unlock()
	if err := c.subscribe(context.Background(), cl, subs); err != nil {
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
	defer c.beginHandshake()()
	tok := cl.SubscribeMultiple(filters, nil)
	if err := c.awaitSuback(ctx, tok); err != nil {
		return err
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
	for _, s := range subs {
		s.subscribed.Store(true)
	}
	return nil
}

// quiesce prepares a reconnect that asks the broker for its unacknowledged
// messages again: the broker then resends every message not yet
// acknowledged, including those the pipeline is working on, which would be
// delivered twice (and a poison message dead-lettered twice). So the feeder
// stops handing out messages, and quiesce waits, at most RedeliveryDelay,
// until every message handed out has been settled and its acknowledgement
// queued; disconnect then makes sure the broker has them. The hold is
// lifted when the next connection starts.
func (c *Conn) quiesce() {
	c.hold.Store(true)
	c.mu.Lock()
	q := c.acks
	c.mu.Unlock()
	deadline := time.Now().Add(c.opts.RedeliveryDelay)
	for time.Now().Before(deadline) {
		q.mu.Lock()
		open := len(q.q)
		q.mu.Unlock()
		c.ackMu.Lock()
		unsent := len(c.ready) + int(c.acking.Load())
		c.ackMu.Unlock()
		if open == 0 && unsent == 0 {
			return
		}
		select {
		case <-c.stop:
			return
		case <-time.After(5 * time.Millisecond):
		}
	}
	c.log.Debug().Msg("messages still in the pipeline at a redelivery reconnect; they will be delivered again")
}

// awaitSuback waits for the SUBACK for as long as the broker shows it is
// alive. A resumed session's backlog arrives ahead of the SUBACK, and on a
// loaded box reading 100k queued messages can take longer than
// ConnectTimeout: a fixed deadline would drop a working connection and make
// the broker send everything in flight again. So the deadline restarts
// whenever messages arrived during the last ConnectTimeout; only a broker
// that sends nothing at all for that long is given up on.
func (c *Conn) awaitSuback(ctx context.Context, tok paho.Token) error {
	timer := time.NewTimer(c.opts.ConnectTimeout)
	defer timer.Stop()
	seen := c.stats.received.Load()
	for {
		select {
		case <-tok.Done():
			return nil
		case <-ctx.Done():
			return fmt.Errorf("subscribe: %w", ctx.Err())
		case <-timer.C:
			now := c.stats.received.Load()
			if now == seen {
				return fmt.Errorf("subscribe: no SUBACK and no message from the broker for %s", c.opts.ConnectTimeout)
			}
			seen = now
			timer.Reset(c.opts.ConnectTimeout)
		}
	}
}

// checkSession compares the CONNACK's session-present flag with what this
// process expects. With a persistent session, a reconnect that finds no
// session means the broker lost it (restarted without persistence, or
// expired it): the messages it held for edgeflow while the connection was
// down, and those left unacknowledged, are gone. edgeflow cannot get them
// back, but it must not stay silent about it.
func (c *Conn) checkSession(present bool) {
	if c.opts.CleanSession {
		return
	}
	switch {
	case present:
	case c.hadSession:
		c.stats.sessionLost.Add(1)
		c.log.Error().Str("client_id", c.opts.ClientID).
			Msg("mqtt session lost: the broker came back without edgeflow's persistent session; messages it held for edgeflow (queued while disconnected, or unacknowledged) are lost. Make the broker persist sessions (mosquitto: persistence true, autosave_interval; see deploy/mosquitto)")
	default:
		c.log.Info().Str("client_id", c.opts.ClientID).Msg("mqtt: no session at the broker yet; starting a new persistent session")
	}
	if !present {
		// Packet ids start afresh with the new session.
		c.attempts.reset()
	}
	c.hadSession = true
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
