package mqtt

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
)

// errStopped settles deliveries a subscription still held when it closed:
// they are not acknowledged, so the broker redelivers them next session.
var errStopped = errors.New("mqtt: subscription stopped before the message was taken")

// Subscription is one subscriber's share of a connection: its topic filters
// and a bounded channel of deliveries. The bound (maxInFlight) counts
// deliveries not yet settled; when it is reached the connection's feeder
// waits, which holds back PUBACKs and so the broker (see docs/mqtt.md).
type Subscription struct {
	conn    *Conn
	filters []string // as given, $share/... included
	match   []string // what incoming topics are matched against
	qos     byte
	c       chan Delivery // by value: the subscriber keeps it where it likes (sources/mqtt pools them)
	slots   chan struct{}
	once    sync.Once
	closed  chan struct{}
	// subscribed is set once the broker has acknowledged the filters (a
	// SUBACK on this process's connection).
	subscribed atomic.Bool
}

// Subscribed reports whether the broker has acknowledged the subscription
// at least once since Register. Until then a new session gets nothing: what
// is published before is not kept for it.
func (s *Subscription) Subscribed() bool { return s.subscribed.Load() }

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
		c: make(chan Delivery, maxInFlight), slots: make(chan struct{}, maxInFlight), closed: make(chan struct{})}
	for _, f := range filters {
		if err := validFilter(f); err != nil {
			return nil, fmt.Errorf("topic filter %q: %w", f, err)
		}
		m, _ := sharedFilter(f)
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

// C returns the deliveries. It is never closed; stop reading when done and
// call Close. A Delivery comes by value, so that a subscriber that keeps
// its own (sources/mqtt reuses them with its messages) costs no allocation
// per message; settle it through one copy only.
func (s *Subscription) C() <-chan Delivery { return s.c }

// Close removes the subscription from the connection (locally only: the
// broker keeps the session's subscription, so that messages published while
// edgeflow is down are kept for it) and settles what it still holds with
// errStopped.
func (s *Subscription) Close() {
	s.once.Do(func() {
		s.conn.removeSub(s)
		close(s.closed)
		for {
			select {
			case d := <-s.c:
				d.Release()
			default:
				return
			}
		}
	})
}

// offer hands d to the subscriber, waiting for a free in-flight slot. It
// gives up (and returns false) when the subscription or connection closes.
func (s *Subscription) offer(d Delivery) bool {
	select {
	case s.slots <- struct{}{}:
	default:
		s.conn.stats.blocked.Add(1)
		select {
		case s.slots <- struct{}{}:
		case <-s.closed:
			return false
		case <-s.conn.stop:
			return false
		}
	}
	select {
	case <-s.closed:
		<-s.slots
		return false
	default:
	}
	s.c <- d // never blocks: c has room for every slot
	return true
}

func (s *Subscription) matches(topic string) bool {
	for _, f := range s.match {
		if topicMatches(f, topic) {
			return true
		}
	}
	return false
}

// Delivery is one received PUBLISH handed to a subscriber. The subscriber
// must call Settle (or Release) exactly once, on one copy: with nil when
// the message is done with (delivered, filtered or dead-lettered), or with
// an error, which leaves it unacknowledged for the broker to redeliver.
type Delivery struct {
	Topic string
	// Payload is the message's own: paho reads each PUBLISH into a new
	// buffer and nothing here reuses it, so a subscriber may keep it past
	// Settle (a dead letter or a retried message does).
	Payload   []byte
	QoS       byte
	Retained  bool
	Duplicate bool // the broker says it may have sent this before
	// Delivered counts the deliveries of this message in this session,
	// this one included: 1, plus one for each earlier delivery that was
	// settled with an error. LastError is the error of the latest. A
	// subscriber gives up on a message that keeps failing (max_deliver)
	// by dead-lettering it instead of processing it again.
	Delivered int
	LastError string

	sub *Subscription
	ack *pending // nil for QoS 0
}

// Settle reports the fate of the delivery. It never blocks for long and is
// safe to call from any goroutine.
func (d *Delivery) Settle(err error) { d.settle(err, true) }

// Release leaves the delivery unacknowledged, for the broker to redeliver,
// without counting it as a failed delivery: the subscriber is stopping, not
// failing the message.
func (d *Delivery) Release() { d.settle(errStopped, false) }

func (d *Delivery) settle(err error, counted bool) {
	if d.sub == nil {
		return // made by hand (a test or benchmark): nothing to report to
	}
	if err != nil {
		d.sub.conn.stats.nacked.Add(1)
	} else {
		d.sub.conn.stats.settled.Add(1)
	}
	if d.ack != nil {
		d.ack.settle(err, counted)
	}
	<-d.sub.slots // free the in-flight slot: the dispatcher may deliver again
}
