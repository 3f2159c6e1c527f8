package mqtt

import (
	"errors"
	"strings"
	"sync"

	paho "github.com/eclipse/paho.mqtt.golang"
)

// ErrStopped settles deliveries a subscription still held when it closed:
// they are not acknowledged, so the broker redelivers them next session.
var ErrStopped = errors.New("mqtt: subscription stopped before the message was taken")

// Delivery is one received PUBLISH handed to a subscriber. The subscriber
// must call Settle exactly once: with nil when the message is done with
// (delivered, filtered or dead-lettered), or with an error, which leaves it
// unacknowledged for the broker to redeliver.
type Delivery struct {
	Topic     string
	Payload   []byte
	QoS       byte
	Retained  bool
	Duplicate bool // the broker says it may have sent this before

	sub *Subscription
	ack *pending // nil for QoS 0
}

// Settle reports the fate of the delivery. It never blocks for long and is
// safe to call from any goroutine.
func (d *Delivery) Settle(err error) {
	if err != nil {
		d.sub.conn.stats.nacked.Add(1)
	} else {
		d.sub.conn.stats.settled.Add(1)
	}
	if d.ack != nil {
		d.ack.settle(err)
	}
	<-d.sub.slots // free the in-flight slot: the dispatcher may deliver again
}

// Subscription is one subscriber's share of a connection: its topic filters
// and a bounded channel of deliveries. The bound (maxInFlight) counts
// deliveries not yet settled; when it is reached the connection's dispatcher
// waits, which holds back PUBACKs and so the broker (see docs/mqtt.md).
type Subscription struct {
	conn    *Conn
	filters []string // as given, $share/... included
	match   []string // what incoming topics are matched against
	qos     byte
	c       chan *Delivery
	slots   chan struct{}
	once    sync.Once
	closed  chan struct{}
}

// C returns the deliveries. It is never closed; stop reading when done and
// call Close.
func (s *Subscription) C() <-chan *Delivery { return s.c }

// Filters returns the topic filters.
func (s *Subscription) Filters() []string { return s.filters }

// Close removes the subscription from the connection (locally only: the
// broker keeps the session's subscription, so that messages published while
// edgeflow is down are kept for it) and settles what it still holds with
// ErrStopped.
func (s *Subscription) Close() {
	s.once.Do(func() {
		s.conn.removeSub(s)
		close(s.closed)
		for {
			select {
			case d := <-s.c:
				d.Settle(ErrStopped)
			default:
				return
			}
		}
	})
}

// offer hands d to the subscriber, waiting for a free in-flight slot. It
// gives up (and returns false) when the subscription or connection closes.
func (s *Subscription) offer(d *Delivery) bool {
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
		if TopicMatches(f, topic) {
			return true
		}
	}
	return false
}

// SharedFilter splits a $share/group/filter into its filter; ok is false for
// an ordinary filter.
func SharedFilter(f string) (filter string, ok bool) {
	rest, ok := strings.CutPrefix(f, "$share/")
	if !ok {
		return f, false
	}
	_, filter, ok = strings.Cut(rest, "/")
	return filter, ok
}

// ValidFilter reports a problem with a topic filter, or nil.
func ValidFilter(f string) error {
	if sf, shared := SharedFilter(f); shared {
		f = sf
	} else if strings.HasPrefix(f, "$share/") {
		return errors.New("shared subscription must be $share/<group>/<filter>")
	}
	if f == "" {
		return errors.New("empty topic filter")
	}
	levels := strings.Split(f, "/")
	for i, l := range levels {
		switch {
		case l == "#" && i != len(levels)-1:
			return errors.New("# must be the last level")
		case l != "#" && l != "+" && strings.ContainsAny(l, "+#"):
			return errors.New("+ and # must fill a whole level")
		}
	}
	return nil
}

// TopicMatches reports whether topic matches the MQTT filter. Wildcards at
// the first level do not match topics starting with $ (MQTT-4.7.2-1).
func TopicMatches(filter, topic string) bool {
	if strings.HasPrefix(topic, "$") && (strings.HasPrefix(filter, "+") || strings.HasPrefix(filter, "#")) {
		return false
	}
	for {
		f, frest, fmore := strings.Cut(filter, "/")
		if f == "#" {
			return true
		}
		t, trest, tmore := strings.Cut(topic, "/")
		if f != "+" && f != t {
			return false
		}
		if !fmore || !tmore {
			// "a/#" matches "a" too: the # level stands for zero levels.
			return fmore == tmore || (fmore && frest == "#")
		}
		filter, topic = frest, trest
	}
}

// ackQueue acknowledges the QoS 1/2 messages of one network connection in
// the order they arrived, as MQTT requires (MQTT-4.6.0-2), however out of
// order the pipeline settles them. A message that failed is skipped: it
// stays unacknowledged, and the broker redelivers it on the next connection.
type ackQueue struct {
	conn *Conn
	mu   sync.Mutex
	q    []*pending
}

// pending is one received message awaiting its subscribers' verdicts.
type pending struct {
	q      *ackQueue
	msg    paho.Message
	refs   int // subscribers that have not settled yet
	failed bool
}

func (q *ackQueue) add(msg paho.Message, refs int) *pending {
	p := &pending{q: q, msg: msg, refs: refs}
	q.mu.Lock()
	q.q = append(q.q, p)
	q.mu.Unlock()
	return p
}

func (p *pending) settle(err error) {
	q := p.q
	q.mu.Lock()
	if err != nil {
		p.failed = true
	}
	p.refs--
	var ready []paho.Message
	stranded := 0
	i := 0
	for ; i < len(q.q) && q.q[i].refs <= 0; i++ {
		if q.q[i].failed {
			stranded++
		} else {
			ready = append(ready, q.q[i].msg)
		}
	}
	if i > 0 {
		clear(q.q[:i])
		q.q = q.q[i:]
	}
	// Still under q.mu, so that two settles cannot hand over their runs in
	// the wrong order. queueAcks only appends and signals; it never blocks.
	q.conn.queueAcks(ready, stranded)
	q.mu.Unlock()
}

// dispatch is paho's default publish handler: it routes msg to every
// subscription whose filter matches. It runs on paho's router goroutine
// (OrderMatters), so arrival order is the order messages enter the ack
// queue; it blocks only while a subscriber has no free in-flight slot.
func (c *Conn) dispatch(_ paho.Client, msg paho.Message) {
	c.stats.received.Add(1)
	if msg.Duplicate() {
		c.stats.duplicates.Add(1)
	}
	c.mu.Lock()
	var subs []*Subscription
	for _, s := range c.subs {
		if s.matches(msg.Topic()) {
			subs = append(subs, s)
		}
	}
	q := c.acks
	c.mu.Unlock()
	if len(subs) == 0 {
		// Nobody to take it (a subscriber not started yet, or stopped).
		// Leaving it unacknowledged keeps it at the broker.
		c.stats.unrouted.Add(1)
		if msg.Qos() > 0 {
			c.strand(1)
		}
		return
	}
	var ack *pending
	if msg.Qos() > 0 {
		ack = q.add(msg, len(subs))
	}
	for _, s := range subs {
		d := &Delivery{Topic: msg.Topic(), Payload: msg.Payload(), QoS: msg.Qos(),
			Retained: msg.Retained(), Duplicate: msg.Duplicate(), sub: s, ack: ack}
		if !s.offer(d) {
			c.stats.unrouted.Add(1)
			if ack != nil {
				ack.settle(ErrStopped)
			}
		}
	}
}
