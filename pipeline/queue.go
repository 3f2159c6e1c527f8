package pipeline

import (
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// Overflow says what an edge does when its queue is full.
type Overflow int

const (
	// Block makes the producer wait: backpressure travels up to the source.
	Block Overflow = iota
	// DropOldest discards the oldest queued message to make room: the
	// consumer always sees the newest (cameras).
	DropOldest
	// DropNewest discards the message that did not fit.
	DropNewest
)

var overflowNames = [...]string{Block: "block", DropOldest: "drop_oldest", DropNewest: "drop_newest"}

func (o Overflow) String() string {
	if int(o) < len(overflowNames) {
		return overflowNames[o]
	}
	return fmt.Sprintf("Overflow(%d)", int(o))
}

// ParseOverflow parses the YAML name of an overflow policy.
func ParseOverflow(s string) (Overflow, error) {
	for i, n := range overflowNames {
		if n == s {
			return Overflow(i), nil
		}
	}
	return Block, fmt.Errorf("unknown overflow policy %q (want block, drop_oldest or drop_newest)", s)
}

// queue is the bounded input of a node. Every edge into the node feeds it;
// it closes when the last producer is done. Messages dropped by the policy
// are acknowledged: dropping is a decision, not a failure.
//
// It is a ring under a mutex rather than a channel so that wake-ups can be
// rationed. A channel wakes a blocked producer for every slot a consumer
// frees; when a fast producer feeds a slow consumer (a model at batch 1),
// that is a scheduler hand-off and usually a futex wake of another thread
// per message, paid on the consumer's thread and in the producer's spinning.
// Here a producer blocked on a full queue is woken only once the queue has
// drained to half (lowWater), and then refills it in one burst.
//
// A consumer is woken as soon as a message arrives, with one exception that
// is the mirror image: a fast consumer behind a slower stage would otherwise
// be woken for every message. A stage node that is saturated (more input
// waiting) and whose calls are quick emits with coalesce set; the wake-up
// it would have caused is then deferred (wakeDue) until coalesceMax
// messages (at most half the queue) are queued, or the stage is about to
// wait for input or for room downstream, or it finishes, whichever comes
// first. See node.emit. A deferral thus delays a message by at most 256
// quick calls (128 with the default queue of 256), while messages wait in
// the stage's own queue anyway.
type queue struct {
	mu     sync.Mutex
	ring   []*Message
	head   int // index of the oldest message
	n      int // messages queued
	closed bool

	// Waiters register under mu, then block on these channels outside it.
	// A signal is a token in a channel of capacity 1, sent only while
	// someone waits; a woken waiter checks again and passes the token on
	// when there is more for the others, so no wake-up is lost and none
	// is wasted on a waiter that would find nothing.
	consumersWaiting int
	producersWaiting int
	notEmpty         chan struct{} // closed when the queue closes
	notFull          chan struct{}
	lowWater         int
	wakeDue          bool // a waiting consumer's wake-up was deferred
	wakeAt           int  // queued messages that end a deferral

	policy    Overflow
	producers atomic.Int32
	dropped   atomic.Uint64
}

func newQueue(size int, policy Overflow) *queue {
	size = max(size, 1)
	return &queue{
		ring: make([]*Message, size), policy: policy, lowWater: size / 2,
		wakeAt:   max(1, min(coalesceMax, size/2)),
		notEmpty: make(chan struct{}, 1), notFull: make(chan struct{}, 1),
	}
}

// coalesceMax is the most messages a deferred wake-up leaves waiting. It
// was 64: on a KVM guest with other load each wake-up of a sleeping thread
// stalls the waking stage for 15-30 µs (by the traces, most likely the
// woken thread spinning on the waker's CPU), so an onnx stage with a 15 µs
// model lost 3-4 % of its throughput to waking its sink and producer; with
// queues of 1024, 256 per wake-up gained ~5 points of throughput
// (BENCHMARKS.md, the onnx section).
const coalesceMax = 256

// signal leaves a token in c unless one is already there.
func signal(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// put appends m; the caller holds mu and has checked there is room. With
// coalesce, a waiting consumer is not woken yet unless wakeAt messages are
// queued; the producer owes it a flushWake.
func (q *queue) put(m *Message, coalesce bool) {
	q.ring[(q.head+q.n)%len(q.ring)] = m
	q.n++
	if coalesce && q.n < q.wakeAt {
		q.wakeDue = q.wakeDue || q.consumersWaiting > 0
		return
	}
	q.wakeConsumer()
}

// wakeConsumer lets a waiting consumer know there is a message. Once the
// queue is closed, notEmpty is closed and wakes them all by itself.
func (q *queue) wakeConsumer() {
	q.wakeDue = false
	if q.consumersWaiting > 0 && !q.closed {
		signal(q.notEmpty)
	}
}

// flushWake wakes a consumer whose wake-up was deferred.
func (q *queue) flushWake() {
	q.mu.Lock()
	if q.wakeDue {
		q.wakeConsumer()
	}
	q.mu.Unlock()
}

// tryPush enqueues m if there is room, without waiting or dropping.
func (q *queue) tryPush(m *Message, coalesce bool) bool {
	q.mu.Lock()
	ok := q.n < len(q.ring)
	if ok {
		q.put(m, coalesce)
	}
	q.mu.Unlock()
	return ok
}

// take removes the oldest message; the caller holds mu and has checked
// there is one.
func (q *queue) take() *Message {
	m := q.ring[q.head]
	q.ring[q.head] = nil
	q.head = (q.head + 1) % len(q.ring)
	q.n--
	return m
}

// tookSome signals, after the caller took messages, what is now possible:
// another consumer's turn, and room for the producers once the queue is
// down to lowWater. The caller holds mu.
func (q *queue) tookSome() {
	if q.n > 0 {
		q.wakeConsumer()
	}
	if q.producersWaiting > 0 && q.n <= q.lowWater {
		signal(q.notFull)
	}
}

// push enqueues m, which must carry a reference for the queue. It returns
// false when abort is done first; m is then released with ErrAborted.
func (q *queue) push(abort <-chan struct{}, m *Message) bool {
	q.mu.Lock()
	for q.n == len(q.ring) {
		switch q.policy {
		case DropNewest:
			q.mu.Unlock()
			q.dropped.Add(1)
			m.release(nil)
			return true
		case DropOldest:
			old := q.take()
			q.put(m, false)
			q.mu.Unlock()
			q.dropped.Add(1)
			old.release(nil)
			return true
		}
		if q.wakeDue {
			q.wakeConsumer() // never wait on a consumer left asleep
		}
		q.producersWaiting++
		q.mu.Unlock()
		select {
		case <-q.notFull:
		case <-abort:
			q.mu.Lock()
			q.producersWaiting--
			q.mu.Unlock()
			m.release(ErrAborted)
			return false
		}
		q.mu.Lock()
		q.producersWaiting--
	}
	q.put(m, false)
	if q.producersWaiting > 0 && q.n < len(q.ring) {
		signal(q.notFull) // room for the next producer too
	}
	q.mu.Unlock()
	return true
}

// waitNotEmpty waits, with mu held on entry and on return, until a message
// may have arrived, the queue closed, or deadline (if not nil) fired; it
// reports false for the deadline.
func (q *queue) waitNotEmpty(deadline <-chan time.Time) bool {
	q.consumersWaiting++
	q.mu.Unlock()
	ok := true
	select {
	case <-q.notEmpty:
	case <-deadline:
		ok = false
	}
	q.mu.Lock()
	q.consumersWaiting--
	return ok
}

// pop takes the oldest message, waiting for one; ok is false once the queue
// is closed and empty. more reports whether others are queued behind it.
// beforeWait, if not nil, runs (without the lock) before the consumer
// waits: the moment to flush the wake-ups it deferred downstream.
func (q *queue) pop(beforeWait func()) (m *Message, more, ok bool) {
	q.mu.Lock()
	if !q.awaitFirst(beforeWait) {
		q.mu.Unlock()
		return nil, false, false
	}
	m = q.take()
	q.tookSome()
	more = q.n > 0
	q.mu.Unlock()
	return m, more, true
}

// awaitFirst waits, with mu held on entry and on return, until a message is
// queued (true) or the queue is closed and empty (false). beforeWait is as
// for pop.
func (q *queue) awaitFirst(beforeWait func()) bool {
	for q.n == 0 {
		if q.closed {
			return false
		}
		if beforeWait != nil {
			q.mu.Unlock()
			beforeWait()
			q.mu.Lock()
			if q.n > 0 || q.closed {
				continue
			}
		}
		q.waitNotEmpty(nil)
	}
	return true
}

// popBatch appends to b the oldest messages, at least one and at most size
// in all, waiting for the first; once it has one it takes what is queued
// and, if delay > 0, waits up to delay (on timer, stopped) for more. ok is
// false once the queue is closed and empty; more reports whether messages
// are left queued. beforeWait is as for pop.
func (q *queue) popBatch(b []*Message, size int, delay time.Duration, timer *time.Timer, beforeWait func()) (_ []*Message, more, ok bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if !q.awaitFirst(beforeWait) {
		return b, false, false
	}
	var deadline <-chan time.Time
	expired := false
	for {
		for q.n > 0 && len(b) < size {
			b = append(b, q.take())
		}
		q.tookSome()
		if len(b) >= size || q.closed || delay <= 0 || expired {
			return b, q.n > 0, true
		}
		if deadline == nil {
			timer.Reset(delay)
			defer timer.Stop()
			deadline = timer.C
		}
		if beforeWait != nil {
			q.mu.Unlock()
			beforeWait()
			q.mu.Lock()
			if q.n > 0 || q.closed {
				continue
			}
		}
		expired = !q.waitNotEmpty(deadline)
	}
}

// len is the number of queued messages.
func (q *queue) len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.n
}

// close ends the queue: consumers take what is left, then see it closed.
func (q *queue) close() {
	q.mu.Lock()
	q.closed = true
	close(q.notEmpty)
	q.mu.Unlock()
}

// producerDone is called once by each producer when it will send no more.
func (q *queue) producerDone() {
	if q.producers.Add(-1) == 0 {
		q.close()
	}
}
