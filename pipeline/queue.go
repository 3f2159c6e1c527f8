package pipeline

import (
	"fmt"
	"sync/atomic"
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
type queue struct {
	ch        chan *Message
	policy    Overflow
	producers atomic.Int32
	dropped   atomic.Uint64
}

func newQueue(size int, policy Overflow) *queue {
	return &queue{ch: make(chan *Message, size), policy: policy}
}

// push enqueues m, which must carry a reference for the queue. It returns
// false when abort is done first; m is then released with ErrAborted.
func (q *queue) push(abort <-chan struct{}, m *Message) bool {
	select {
	case q.ch <- m:
		return true
	default:
	}
	switch q.policy {
	case DropNewest:
		q.dropped.Add(1)
		m.release(nil)
		return true
	case DropOldest:
		for {
			select {
			case q.ch <- m:
				return true
			default:
			}
			select {
			case old := <-q.ch:
				q.dropped.Add(1)
				old.release(nil)
			default:
			}
		}
	}
	select {
	case q.ch <- m:
		return true
	case <-abort:
		m.release(ErrAborted)
		return false
	}
}

// producerDone is called once by each producer when it will send no more.
func (q *queue) producerDone() {
	if q.producers.Add(-1) == 0 {
		close(q.ch)
	}
}
