package pipeline

import (
	"context"
	"errors"
	"math/rand/v2"
	"slices"
	"sync/atomic"
	"testing"
	"time"
)

func TestBlockBackpressureStallsSource(t *testing.T) {
	st := newSettlements()
	src := &seqSource{n: -1, settle: st}
	sink := &collectSink{gate: make(chan struct{})}
	p := New(Options{DrainTimeout: 5 * time.Second})
	mustAdd(t, p.AddSource("src", src, NodeOptions{}))
	mustAdd(t, p.AddStage("pass", pass, []string{"src"}, NodeOptions{Buffer: 4}))
	mustAdd(t, p.AddSink("out", sink, []string{"pass"}, NodeOptions{Buffer: 4}))
	ctx, cancel := context.WithCancel(context.Background())
	done := runAsync(ctx, p)

	// With the sink stuck, at most: 4 queued at pass, 1 in pass, 4 queued
	// at the sink, 1 in the sink's Write, 1 blocked in the source's Emit.
	// At least one slot less per queue: a producer blocked on a full queue
	// is woken only once it has drained to half, so a consumer that took
	// one message and stuck leaves its producer blocked.
	waitFor(t, "the source to stall", func() bool { return src.emitted.Load() >= 8 })
	time.Sleep(50 * time.Millisecond)
	if n := src.emitted.Load(); n > 10 {
		t.Fatalf("source emitted %d messages past a stuck sink; block must bound it to 10", n)
	}
	cancel()
	close(sink.gate) // the sink recovers: everything drains
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	acked, nacked := st.counts()
	if nacked != 0 || int64(acked) != src.emitted.Load()+1 && int64(acked) != src.emitted.Load() {
		t.Fatalf("acked %d nacked %d of %d emitted", acked, nacked, src.emitted.Load())
	}
	if got := len(sink.got()); got != acked {
		t.Fatalf("sink delivered %d, acked %d", got, acked)
	}
}

// runOverflow sends 100 messages into a sink whose queue holds 2, with the
// sink stuck on message 0, and returns what it delivered once released.
func runOverflow(t *testing.T, policy Overflow) []int {
	t.Helper()
	st := newSettlements()
	entered := make(chan struct{})
	sink := &collectSink{gate: make(chan struct{}), entered: entered}
	p := New(Options{})
	mustAdd(t, p.AddSource("src", &seqSource{n: 100, settle: st, resume: entered}, NodeOptions{}))
	mustAdd(t, p.AddSink("out", sink, []string{"src"}, NodeOptions{Buffer: 2, Overflow: policy}))
	done := runAsync(context.Background(), p)
	// Message 0 is in the sink's Write; the other 99 meet a queue of 2. The
	// source never blocks although the sink is stuck.
	waitFor(t, "the source to finish", func() bool { s, _ := p.Stats("src"); return s.Emitted == 100 })
	close(sink.gate)
	mustAdd(t, <-done)
	got := sink.got()
	if s, _ := p.Stats("out"); int(s.Dropped)+len(got) != 100 || s.Dropped != 97 {
		t.Fatalf("dropped %d + delivered %d, want 97 + 3", s.Dropped, len(got))
	}
	if acked, nacked := st.counts(); acked != 100 || nacked != 0 {
		t.Fatalf("acked %d nacked %d: dropped messages are settled as acked", acked, nacked)
	}
	return got
}

func TestDropOldestKeepsNewest(t *testing.T) {
	if got := runOverflow(t, DropOldest); !slices.Equal(got, []int{0, 98, 99}) {
		t.Fatalf("sink got %v, want the one in hand and the newest: [0 98 99]", got)
	}
}

func TestDropNewestKeepsOldest(t *testing.T) {
	if got := runOverflow(t, DropNewest); !slices.Equal(got, []int{0, 1, 2}) {
		t.Fatalf("sink got %v, want the oldest: [0 1 2]", got)
	}
}

func TestGracefulShutdownDrainsWithoutLoss(t *testing.T) {
	st := newSettlements()
	src := &seqSource{n: -1, settle: st}
	slowish := procFunc(func(_ context.Context, m *Message, out Emitter) error {
		time.Sleep(50 * time.Microsecond)
		out.Emit(m)
		return nil
	})
	sink := &collectSink{}
	p := New(Options{DrainTimeout: 10 * time.Second})
	mustAdd(t, p.AddSource("src", src, NodeOptions{}))
	mustAdd(t, p.AddStage("work", slowish, []string{"src"}, NodeOptions{Workers: 3, Ordered: true, Buffer: 64}))
	mustAdd(t, p.AddSink("out", sink, []string{"work"}, NodeOptions{Buffer: 64}))
	ctx, cancel := context.WithCancel(context.Background())
	done := runAsync(ctx, p)
	waitFor(t, "traffic", func() bool { return len(sink.got()) > 500 })
	cancel()
	mustAdd(t, <-done)

	got := sink.got()
	acked, nacked := st.counts()
	if nacked != 0 || acked != len(got) {
		t.Fatalf("acked %d nacked %d delivered %d: a graceful stop must deliver what it took", acked, nacked, len(got))
	}
	s, _ := p.Stats("src")
	if int(s.Received) != len(got) {
		t.Fatalf("source produced %d, sink delivered %d", s.Received, len(got))
	}
	for i, seq := range got {
		if seq != i {
			t.Fatalf("delivery %d is message %d: ordered workers must keep order without gaps", i, seq)
		}
	}
}

func TestDrainTimeoutAbortsAndNacksTheRest(t *testing.T) {
	st := newSettlements()
	src := &seqSource{n: -1, settle: st}
	stuck := &collectSink{gate: make(chan struct{})} // never opens
	p := New(Options{DrainTimeout: 100 * time.Millisecond})
	mustAdd(t, p.AddSource("src", src, NodeOptions{}))
	mustAdd(t, p.AddSink("out", stuck, []string{"src"}, NodeOptions{Buffer: 8}))
	ctx, cancel := context.WithCancel(context.Background())
	done := runAsync(ctx, p)
	waitFor(t, "the source to stall", func() bool { return src.emitted.Load() >= 8 })
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, ErrDrainIncomplete) {
			t.Fatalf("Run = %v, want ErrDrainIncomplete: a drain cut short is not a clean stop", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after the drain timeout")
	}
	s, _ := p.Stats("src")
	acked, nacked := st.counts()
	if acked != 0 || uint64(nacked) != s.Received {
		t.Fatalf("acked %d nacked %d of %d produced: every message must end, nacked", acked, nacked, s.Received)
	}
	if !errors.Is(st.nack[0], ErrAborted) && st.nack[0] == nil {
		t.Fatalf("nack reason %v", st.nack[0])
	}
}

// lateSource ignores the stop until the pipeline has aborted, then emits
// one tracked message, as a source flushing a buffer at shutdown might.
type lateSource struct {
	p      *Pipeline
	settle *settlements
	err    error
}

func (s *lateSource) Run(ctx context.Context, out SourceOutput) error {
	<-ctx.Done()
	<-s.p.abort
	m := NewMessage(nil)
	m.Track(s.settle.settle, 0)
	s.err = out.Emit(m)
	return nil
}

// A message emitted after the drain timeout is refused with ErrAborted and
// nacked, never acknowledged: nothing delivered it.
func TestEmitAfterAbortNacks(t *testing.T) {
	st := newSettlements()
	p := New(Options{DrainTimeout: 20 * time.Millisecond})
	src := &lateSource{p: p, settle: st}
	mustAdd(t, p.AddSource("src", src, NodeOptions{}))
	mustAdd(t, p.AddSink("out", &collectSink{}, []string{"src"}, NodeOptions{}))
	ctx, cancel := context.WithCancel(context.Background())
	done := runAsync(ctx, p)
	waitFor(t, "the pipeline to run", p.Ready)
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, ErrDrainIncomplete) {
			t.Fatalf("Run = %v, want ErrDrainIncomplete", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after the drain timeout")
	}
	acked, nacked := st.counts()
	if !errors.Is(src.err, ErrAborted) || acked != 0 || nacked != 1 || !errors.Is(st.nack[0], ErrAborted) {
		t.Fatalf("Emit after abort: %v; acked %d, nacked %d (%v); want ErrAborted and one nack with it", src.err, acked, nacked, st.nack[0])
	}
}

func TestOrderedWorkersKeepOrderUnorderedDoNot(t *testing.T) {
	jitter := procFunc(func(_ context.Context, m *Message, out Emitter) error {
		time.Sleep(time.Duration(rand.IntN(300)) * time.Microsecond)
		out.Emit(m)
		return nil
	})
	var inFlight, peak atomic.Int32
	parallel := procFunc(func(ctx context.Context, m *Message, out Emitter) error {
		n := inFlight.Add(1)
		for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
		}
		err := jitter(ctx, m, out)
		inFlight.Add(-1)
		return err
	})
	ordered := &collectSink{}
	p := New(Options{})
	mustAdd(t, p.AddSource("src", &seqSource{n: 400}, NodeOptions{}))
	mustAdd(t, p.AddStage("work", parallel, []string{"src"}, NodeOptions{Workers: 4, Ordered: true}))
	mustAdd(t, p.AddSink("out", ordered, []string{"work"}, NodeOptions{}))
	mustAdd(t, p.Run(context.Background()))
	if got := ordered.got(); len(got) != 400 || !slices.IsSorted(got) {
		t.Fatalf("ordered workers delivered %d messages, sorted=%v", len(got), slices.IsSorted(got))
	}
	if peak.Load() < 2 {
		t.Fatalf("peak concurrency %d: the workers never ran in parallel", peak.Load())
	}
}

func TestFanInFromTwoSources(t *testing.T) {
	a, b := newSettlements(), newSettlements()
	sink := &collectSink{}
	p := New(Options{})
	mustAdd(t, p.AddSource("a", &seqSource{n: 300, settle: a}, NodeOptions{}))
	mustAdd(t, p.AddSource("b", &seqSource{n: 200, settle: b}, NodeOptions{}))
	mustAdd(t, p.AddStage("merge", pass, []string{"a", "b"}, NodeOptions{}))
	mustAdd(t, p.AddSink("out", sink, []string{"merge"}, NodeOptions{}))
	mustAdd(t, p.Run(context.Background()))
	if len(sink.got()) != 500 {
		t.Fatalf("sink got %d, want 500", len(sink.got()))
	}
	if na, _ := a.counts(); na != 300 {
		t.Fatalf("source a acked %d", na)
	}
	if nb, _ := b.counts(); nb != 200 {
		t.Fatalf("source b acked %d", nb)
	}
}

// batcher records the size of each batch and fails seq 7.
type batcher struct{ sizes []int }

func (b *batcher) ProcessBatch(_ context.Context, batch []*Message, out Emitter) []error {
	b.sizes = append(b.sizes, len(batch))
	var errs []error
	for i, m := range batch {
		if m.Fields["seq"].(int) == 7 {
			if errs == nil {
				errs = make([]error, len(batch))
			}
			errs[i] = errBoom
			continue
		}
		out.Emit(m)
	}
	return errs
}

func TestBatchProcessorGathersBatches(t *testing.T) {
	st := newSettlements()
	gate := make(chan struct{})
	held := &gatedSource{inner: &seqSource{n: 100, settle: st}, gate: gate}
	b := &batcher{}
	sink, dead := &collectSink{}, &deadSink{}
	p := New(Options{})
	mustAdd(t, p.AddSource("src", held, NodeOptions{}))
	mustAdd(t, p.AddStage("batch", b, []string{"src"}, NodeOptions{BatchSize: 16, BatchDelay: 50 * time.Millisecond, Buffer: 128}))
	mustAdd(t, p.AddSink("out", sink, []string{"batch"}, NodeOptions{}))
	mustAdd(t, p.SetDeadLetter("dlq", dead, NodeOptions{}))
	close(gate)
	mustAdd(t, p.Run(context.Background()))
	if len(sink.got()) != 99 || len(dead.msgs) != 1 {
		t.Fatalf("delivered %d dead %d, want 99 and 1", len(sink.got()), len(dead.msgs))
	}
	total, biggest := 0, 0
	for _, s := range b.sizes {
		total += s
		biggest = max(biggest, s)
	}
	if total != 100 || biggest != 16 {
		t.Fatalf("batch sizes %v: want 100 messages in batches of at most 16, some full", b.sizes)
	}
	if acked, _ := st.counts(); acked != 100 {
		t.Fatalf("acked %d, want 100", acked)
	}
}

type gatedSource struct {
	inner Source
	gate  chan struct{}
}

func (g *gatedSource) Run(ctx context.Context, out SourceOutput) error {
	<-g.gate
	return g.inner.Run(ctx, out)
}

// heldWindow keeps messages and emits them merged, size at a time (3 if
// size is 0), like a window stage would; Flush lets go of the rest.
type heldWindow struct {
	size int
	held []*Message
}

func (h *heldWindow) Process(_ context.Context, m *Message, out Emitter) error {
	m.Retain()
	h.held = append(h.held, m)
	size := h.size
	if size == 0 {
		size = 3
	}
	if len(h.held) == size {
		out.Emit(Merge(h.held...))
		for _, x := range h.held {
			x.Release(nil)
		}
		h.held = h.held[:0]
	}
	return nil
}

func (h *heldWindow) Flush(context.Context, Emitter) error {
	for _, x := range h.held {
		x.Release(nil)
	}
	h.held = nil
	return nil
}

func TestMergedMessagesAckAllTheirParts(t *testing.T) {
	st := newSettlements()
	sink := &countSink{}
	p := New(Options{})
	mustAdd(t, p.AddSource("src", &seqSource{n: 10, settle: st}, NodeOptions{}))
	mustAdd(t, p.AddStage("win", &heldWindow{}, []string{"src"}, NodeOptions{}))
	mustAdd(t, p.AddSink("out", sink, []string{"win"}, NodeOptions{}))
	mustAdd(t, p.Run(context.Background()))
	if sink.n.Load() != 3 {
		t.Fatalf("windows delivered %d, want 3", sink.n.Load())
	}
	if acked, nacked := st.counts(); acked != 10 || nacked != 0 {
		t.Fatalf("acked %d nacked %d: windowed and flushed messages must all be acked", acked, nacked)
	}
}

func TestMergedMessageFailureNacksEveryPart(t *testing.T) {
	st := newSettlements()
	p := New(Options{})
	mustAdd(t, p.AddSource("src", &seqSource{n: 3, settle: st}, NodeOptions{}))
	mustAdd(t, p.AddStage("win", &heldWindow{}, []string{"src"}, NodeOptions{}))
	mustAdd(t, p.AddSink("out", failSink{}, []string{"win"}, NodeOptions{}))
	mustAdd(t, p.Run(context.Background()))
	if acked, nacked := st.counts(); acked != 0 || nacked != 3 {
		t.Fatalf("acked %d nacked %d, want all three parts nacked", acked, nacked)
	}
}

// A merge of one message shares that message's tracker instead of listing
// it: the part is still settled only by the merged message's fate.
func TestMergedSinglePartSettlesWithTheMerge(t *testing.T) {
	for _, tc := range []struct {
		name          string
		sink          Sink
		acked, nacked int
	}{
		{"delivered", &countSink{}, 4, 0},
		{"failed", failSink{}, 0, 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := newSettlements()
			p := New(Options{})
			mustAdd(t, p.AddSource("src", &seqSource{n: 4, settle: st}, NodeOptions{}))
			mustAdd(t, p.AddStage("win", &heldWindow{size: 1}, []string{"src"}, NodeOptions{}))
			mustAdd(t, p.AddSink("out", tc.sink, []string{"win"}, NodeOptions{}))
			mustAdd(t, p.Run(context.Background()))
			if acked, nacked := st.counts(); acked != tc.acked || nacked != tc.nacked {
				t.Fatalf("acked %d nacked %d, want %d and %d", acked, nacked, tc.acked, tc.nacked)
			}
		})
	}
}

type countSink struct{ n atomic.Int64 }

func (c *countSink) Write(context.Context, *Message) error { c.n.Add(1); return nil }

type failSink struct{}

func (failSink) Write(context.Context, *Message) error { return errBoom }
