package mqtt

import (
	paho "github.com/eclipse/paho.mqtt.golang"
)

// inboxLimit is how many received messages may wait for the feeder before
// dispatch holds paho's reader back — except during a connect or subscribe
// handshake, when the reader must get past them to the CONNACK or SUBACK.
// A broker that honours its inflight window never sends this many; the
// bound keeps memory in check with one that does not (mosquitto 2.0.11
// pushes thousands of unacknowledged messages to a slow subscriber).
const inboxLimit = 1024

// arrival is a received message and the ack queue of the network
// connection it came on.
type arrival struct {
	msg paho.Message
	q   *ackQueue
}

// dispatch is paho's default publish handler. It runs on paho's router
// goroutine (OrderMatters), which is also the goroutine that reads every
// packet after a PUBLISH off the network — SUBACKs and PINGRESPs included —
// so it must not wait on the pipeline: it only appends msg to the inbox, in
// arrival order, for the feeder to route. Only when inboxLimit messages are
// waiting, and no handshake is under way, does it wait for room.
func (c *Conn) dispatch(_ paho.Client, msg paho.Message) {
	c.stats.received.Add(1)
	if msg.Duplicate() {
		c.stats.duplicates.Add(1)
	}
	c.mu.Lock()
	a := arrival{msg: msg, q: c.acks}
	c.mu.Unlock()
	for {
		c.inMu.Lock()
		if len(c.inbox) < inboxLimit || c.handshakes.Load() > 0 {
			c.inbox = append(c.inbox, a)
			c.inMu.Unlock()
			signal(c.inWake)
			return
		}
		c.inMu.Unlock()
		select {
		case <-c.inRoom:
		case <-c.stop:
			return // left unacknowledged: the broker keeps it
		case <-a.q.gone:
			return // likewise; see ackQueue.gone
		}
	}
}

// signal wakes the one goroutine that waits on ch, without blocking.
func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// beginHandshake lets dispatch take messages without bound until the
// returned function is called: the reader must reach the CONNACK or SUBACK
// behind them.
func (c *Conn) beginHandshake() (end func()) {
	c.handshakes.Add(1)
	signal(c.inRoom)
	return func() { c.handshakes.Add(-1) }
}

// feed routes the inbox to the subscriptions, in arrival order, until the
// connection closes. Messages still in the inbox then stay unacknowledged.
func (c *Conn) feed() {
	var batch []arrival
	for {
		c.inMu.Lock()
		batch, c.inbox = c.inbox, batch[:0]
		c.inMu.Unlock()
		if len(batch) > 0 {
			signal(c.inRoom)
		}
		for i, a := range batch {
			select {
			case <-c.stop:
				return
			default:
			}
			c.route(a)
			batch[i] = arrival{}
		}
		if len(batch) > 0 {
			continue
		}
		select {
		case <-c.inWake:
		case <-c.stop:
			return
		}
	}
}

// route hands msg to every subscription whose filter matches. It blocks
// while a subscriber has no free in-flight slot.
func (c *Conn) route(a arrival) {
	for c.hold.Load() {
		select {
		case <-c.holdWake:
		case <-c.stop:
			return
		}
	}
	select {
	case <-a.q.gone:
		// Its network connection is over: an acknowledgement could not
		// reach the broker, which sends the message again on the
		// resumed session. Delivering it now would make a duplicate.
		return
	default:
	}
	msg := a.msg
	c.mu.Lock()
	var few [4]*Subscription // on the stack: most messages have one subscriber
	subs := few[:0]
	for _, s := range c.subs {
		if s.matches(msg.Topic()) {
			subs = append(subs, s)
		}
	}
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
	delivered, last := 1, ""
	if msg.Qos() > 0 {
		ack = a.q.add(msg, len(subs))
		delivered, last = c.attempts.next(msg.MessageID())
	}
	for _, s := range subs {
		d := Delivery{Topic: msg.Topic(), Payload: msg.Payload(), QoS: msg.Qos(),
			Retained: msg.Retained(), Duplicate: msg.Duplicate(), Delivered: delivered, LastError: last,
			sub: s, ack: ack}
		if !s.offer(d) {
			c.stats.unrouted.Add(1)
			if ack != nil {
				ack.settle(errStopped, false)
			}
		}
	}
}
