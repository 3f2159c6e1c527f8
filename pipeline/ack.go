package pipeline

import (
	"errors"
	"sync/atomic"
)

// SettleFunc is called exactly once for each source message, when it and
// everything derived from it has reached an end. err is nil when every branch
// delivered (or deliberately dropped, filtered or dead-lettered) it, and the
// first failure otherwise. token is the value given to Message.Track.
//
// SettleFunc runs on whichever goroutine released the last reference; it must
// not block for long.
type SettleFunc func(token any, err error)

// ErrAborted is the error sources see for messages still in flight when a
// pipeline is stopped without draining (the drain timeout ran out).
var ErrAborted = errors.New("pipeline aborted before the message was delivered")

// tracker counts the live references to one source message: queued copies,
// the one being processed, and those held by stateful stages. When the count
// reaches zero the source is settled.
type tracker struct {
	pending atomic.Int32
	failure atomic.Pointer[error]
	settle  SettleFunc
	token   any
	stats   *nodeStats // of the source node, which counts outcomes
}

func (t *tracker) release(err error) {
	if err != nil {
		t.fail(err)
	}
	switch n := t.pending.Add(-1); {
	case n > 0:
		return
	case n < 0:
		// A reference was released twice: a bug in a component, never
		// caused by input. Failing loudly beats settling a source twice.
		panic("edgeflow: message released more often than retained")
	}
	var final error
	if p := t.failure.Load(); p != nil {
		final = *p
	}
	if t.stats != nil {
		if final == nil {
			t.stats.acked.Add(1)
		} else {
			t.stats.nacked.Add(1)
		}
	}
	if t.settle != nil {
		t.settle(t.token, final)
	}
}

// fail records the first failure. It is apart from release so that only a
// failing release moves its error to the heap.
func (t *tracker) fail(err error) { t.failure.CompareAndSwap(nil, &err) }
