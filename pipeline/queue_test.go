package pipeline

import (
	"context"
	"sync/atomic"
	"testing"
	"time"
)

// locked reads q's state under its lock.
func locked[T any](q *queue, f func() T) T {
	q.mu.Lock()
	defer q.mu.Unlock()
	return f()
}

func TestQueueWakesBlockedProducerOnlyAtHalf(t *testing.T) {
	q := newQueue(8, Block)
	for range 8 {
		if !q.tryPush(&Message{}, false) {
			t.Fatal("queue of 8 refused a message before it was full")
		}
	}
	pushed := make(chan bool)
	go func() { pushed <- q.push(make(chan struct{}), &Message{}) }()
	waitFor(t, "the producer to wait", func() bool { return locked(q, func() int { return q.producersWaiting }) == 1 })
	for range 3 {
		q.pop(nil)
	}
	// Five queued, above the low-water mark of four: no wake-up sent.
	if n := len(q.notFull); n != 0 {
		t.Fatalf("producer signalled with 5 of 8 queued; want it left waiting until 4")
	}
	q.pop(nil)
	select {
	case ok := <-pushed:
		if !ok {
			t.Fatal("push failed")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("producer not woken once the queue drained to half")
	}
	if n := q.len(); n != 5 {
		t.Fatalf("%d queued, want 5", n)
	}
}

func TestQueueCoalescedWakeWaitsForFlushOrThreshold(t *testing.T) {
	q := newQueue(32, Block) // wakeAt 16: half of it
	got := make(chan *Message)
	go func() {
		for {
			m, _, ok := q.pop(nil)
			if !ok {
				close(got)
				return
			}
			got <- m
		}
	}()
	waiting := func() bool { return locked(q, func() int { return q.consumersWaiting }) == 1 }
	waitFor(t, "the consumer to wait", waiting)
	first := &Message{Key: "first"}
	q.tryPush(first, true)
	if len(q.notEmpty) != 0 || !locked(q, func() bool { return q.wakeDue }) {
		t.Fatal("a coalesced push woke the consumer, or did not record the wake-up it owes")
	}
	q.flushWake()
	if m := <-got; m != first {
		t.Fatalf("got %v after the flush, want the first message", m)
	}
	waitFor(t, "the consumer to wait again", waiting)
	for i := range 15 {
		q.tryPush(&Message{}, true)
		if len(q.notEmpty) != 0 {
			t.Fatalf("woken at %d queued, want 16", i+1)
		}
	}
	q.tryPush(&Message{}, true) // the 16th wakes it without a flush
	for range 16 {
		select {
		case <-got:
		case <-time.After(10 * time.Second):
			t.Fatal("consumer not woken at 16 queued")
		}
	}
	q.close()
	if _, open := <-got; open {
		t.Fatal("consumer did not see the close")
	}
}

// A stage that coalesces wake-ups while saturated must flush them when its
// input runs dry, or the last messages would wait for the next input. The
// last message of the burst is filtered out, so no emit of its own (which
// would not be coalesced: nothing is queued behind it) wakes the sink.
func TestSaturatedStageDeliversEverythingWhenInputRunsDry(t *testing.T) {
	const n = 8 // the first two calls time the stage; the next five coalesce; the last is filtered
	gate := make(chan struct{})
	first := true
	slowFirst := procFunc(func(_ context.Context, m *Message, out Emitter) error {
		if first { // let the whole burst queue up behind the first message
			first = false
			<-gate
		}
		// Quick calls, but slower than the sink's, so that the sink is
		// waiting when the burst's tail arrives.
		for start := time.Now(); time.Since(start) < 20*time.Microsecond; {
		}
		if m.Fields["seq"] != n-1 {
			out.Emit(m)
		}
		return nil
	})
	src := &burstSource{n: n}
	sink := &collectSink{}
	p := New(Options{})
	mustAdd(t, p.AddSource("src", src, NodeOptions{}))
	mustAdd(t, p.AddStage("pass", slowFirst, []string{"src"}, NodeOptions{Buffer: 64}))
	mustAdd(t, p.AddSink("out", sink, []string{"pass"}, NodeOptions{}))
	ctx, cancel := context.WithCancel(context.Background())
	done := runAsync(ctx, p)
	waitFor(t, "the burst to be queued", func() bool { return src.emitted.Load() == n })
	close(gate)
	// The source is still running: nothing closes the queues.
	waitFor(t, "every message delivered", func() bool { return len(sink.got()) == n-1 })
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// burstSource emits n messages, then waits to be stopped.
type burstSource struct {
	n       int
	emitted atomic.Int64
}

func (s *burstSource) Run(ctx context.Context, out SourceOutput) error {
	for i := range s.n {
		m := NewMessage(nil)
		m.Fields = map[string]any{"seq": i}
		if err := out.Emit(m); err != nil {
			return err
		}
		s.emitted.Add(1)
	}
	<-ctx.Done()
	return nil
}
