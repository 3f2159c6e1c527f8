package mqtt

import (
	"sync"
	"sync/atomic"

	paho "github.com/eclipse/paho.mqtt.golang"
)

// ackQueue acknowledges the QoS 1/2 messages of one network connection in
// the order they arrived, as MQTT requires (MQTT-4.6.0-2), however out of
// order the pipeline settles them. A message that failed is skipped: it
// stays unacknowledged, and the broker redelivers it on the next connection.
type ackQueue struct {
	conn *Conn
	// net is the buffered TCP connection the messages came on, once
	// paho has dialled it (nil for TLS and websockets): QoS 1 PUBACKs are
	// written to it directly (see sendAcks).
	net atomic.Pointer[bufferedConn]
	mu  sync.Mutex
	q   []*pending
	// gone is closed when the network connection ends. A message of that
	// connection still waiting for room in the inbox is then dropped, not
	// delivered: it was never acknowledged, so the broker sends it again
	// when the session resumes, and paho's reader, blocked in dispatch,
	// must be free to stop or the client never leaves its old state.
	gone     chan struct{}
	goneOnce sync.Once
}

func newAckQueue(c *Conn) *ackQueue { return &ackQueue{conn: c, gone: make(chan struct{})} }

// end marks the network connection as over; see gone.
func (q *ackQueue) end() { q.goneOnce.Do(func() { close(q.gone) }) }

// pending is one received message awaiting its subscribers' verdicts.
type pending struct {
	q      *ackQueue
	msg    paho.Message
	refs   int // subscribers that have not settled yet
	failed bool
	err    error // the first failure that counts as a failed delivery
}

func (q *ackQueue) add(msg paho.Message, refs int) *pending {
	p := &pending{q: q, msg: msg, refs: refs}
	q.mu.Lock()
	q.q = append(q.q, p)
	q.mu.Unlock()
	return p
}

// settle records one subscriber's verdict. counted says whether a failure
// counts as a failed delivery of the message (see Delivery.Release).
func (p *pending) settle(err error, counted bool) {
	q := p.q
	q.mu.Lock()
	if err != nil {
		p.failed = true
		if counted && p.err == nil {
			p.err = err
		}
	}
	p.refs--
	if p.refs == 0 {
		q.conn.attempts.outcome(p.msg.MessageID(), p.failed, p.err)
	}
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
	q.conn.queueAcks(q, ready, stranded)
	q.mu.Unlock()
}

// toAck is a settled message and the ack queue of its network connection.
type toAck struct {
	msg paho.Message
	q   *ackQueue
}

// queueAcks hands settled messages of q, in order, to the ack loop and
// notes stranded (unacknowledged) ones. Called under q's lock.
func (c *Conn) queueAcks(q *ackQueue, ready []paho.Message, stranded int) {
	if len(ready) > 0 {
		c.ackMu.Lock()
		for _, m := range ready {
			c.ready = append(c.ready, toAck{m, q})
		}
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
		if len(batch) == 0 {
			c.ackMu.Unlock()
			return
		}
		c.ready = c.spare[:0] // the two slices take turns
		c.acking.Add(1)
		c.ackMu.Unlock()
		c.sendAcks(batch)
		c.acking.Add(-1)
		c.stats.acked.Add(uint64(len(batch)))
		clear(batch)
		c.spare = batch[:0]
	}
}

// sendAcks acknowledges batch in order. paho's Ack hands each PUBACK to
// its outgoing goroutine through a channel, records it in the store and
// stamps the time: at tens of thousands of messages a second that was a
// tenth of the anomaly demo's CPU. A run of QoS 1 messages that came on a
// buffered TCP connection is instead written to it as one run of 4-byte
// PUBACK packets; the connection's flusher sends them with whatever paho
// writes, never inside another packet (Write appends whole packets under a
// lock). A connection that has since closed refuses the write, as paho
// drops acknowledgements for a connection it has left: the broker
// redelivers those messages on the next one.
func (c *Conn) sendAcks(batch []toAck) {
	buf := c.pubacks[:0]
	var to *bufferedConn
	wrote := false
	flush := func() {
		if len(buf) > 0 {
			_, _ = to.Write(buf)
			buf, wrote = buf[:0], true
		}
	}
	defer func() {
		if wrote {
			c.sentByUs()
		}
	}()
	for _, a := range batch {
		nc := a.q.net.Load()
		if nc == nil || a.msg.Qos() != 1 {
			flush()
			a.msg.Ack()
			continue
		}
		if nc != to {
			flush()
			to = nc
		}
		id := a.msg.MessageID()
		buf = append(buf, pubackHeader, 2, byte(id>>8), byte(id))
	}
	flush()
	c.pubacks = buf[:0]
}

// sentByUs tells the subscribing paho client that a packet went out, as
// its own writes do. paho sends a PINGREQ when it has sent nothing for a
// keepalive period, and gives the connection up when the PINGRESP is not
// read within the ping timeout; while a backlog waits, the PINGRESP queues
// behind PUBLISH packets that backpressure keeps unread, so a ping in the
// middle of a busy stream would end the connection (and the broker would
// redeliver what was not acknowledged yet).
func (c *Conn) sentByUs() {
	c.mu.Lock()
	cl := c.client
	c.mu.Unlock()
	if s, ok := cl.(interface{ UpdateLastSent() }); ok {
		s.UpdateLastSent()
	}
}

// pubackHeader is the first byte of a PUBACK packet (type 4, no flags).
const pubackHeader = 0x40
