package componenttest

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/edgeflow/edgeflow/pipeline"
)

// SinkFeatures declares what a sink guarantees.
type SinkFeatures struct {
	// Immediate: once Write has returned nil, Received already shows the
	// message (a file, standard output, a JetStream stream). Otherwise the
	// suite waits a few seconds for it (a subscriber at the broker).
	Immediate bool
	// Discards: the sink confirms nothing: Write returns nil whatever
	// becomes of the message (drop discards it; annotate's preview may
	// skip frames). There is nothing to receive, and Received is nil.
	Discards bool
}

// SinkHarness is what a sink's conformance_test.go gives the suite. A fresh
// harness is made for each test, with a destination of its own.
type SinkHarness struct {
	Features SinkFeatures
	// New returns the sink, ready to write (its connection started), and a
	// function that closes it and what it uses as the engine does at the
	// end of a run (the sink's Close, then its connection's), or nil when
	// there is nothing to close.
	New func(t *testing.T) (sink pipeline.Sink, close func(context.Context) error)
	// Received returns the sequence numbers the destination holds, in the
	// order it got them (from a subscriber, the file, the captured output).
	Received func(t *testing.T) []int
	// Break makes the destination fail: the broker dies, the disk is full.
	// Nil when the sink cannot fail.
	Break func(t *testing.T)
	// Message makes the message with sequence number seq, for sinks that
	// need more than Message gives (a camera frame); nil means Message.
	Message func(seq int) *pipeline.Message
}

func (h SinkHarness) message(seq int) *pipeline.Message {
	if h.Message != nil {
		return h.Message(seq)
	}
	return Message(seq)
}

// Message returns the conformance message with sequence number seq: key
// "k", topic "conformance", the field seq, and Payload(seq) as payload.
func Message(seq int) *pipeline.Message {
	m := pipeline.NewMessage(Payload(seq))
	m.Key, m.Topic = "k", "conformance"
	m.Fields = map[string]any{"seq": seq}
	return m
}

// TestSink runs the sink conformance tests, each on a fresh harness.
func TestSink(t *testing.T, newHarness func(t *testing.T) SinkHarness) {
	for _, tc := range []struct {
		name string
		run  func(*testing.T, SinkHarness)
	}{
		{"WriteConfirms", testWriteConfirms},
		{"ConcurrentWrites", testConcurrentWrites},
		{"WriteFailsWhenDestinationFails", testWriteFails},
		{"CloseDrains", testCloseDrains},
	} {
		t.Run(tc.name, func(t *testing.T) { tc.run(t, newHarness(t)) })
	}
}

// received checks that the destination has seqs, at once for Immediate
// sinks, else within a few seconds.
func (h SinkHarness) received(t *testing.T, seqs ...int) {
	t.Helper()
	if h.Features.Discards {
		return
	}
	has := func() bool {
		got := h.Received(t)
		for _, s := range seqs {
			if !slices.Contains(got, s) {
				return false
			}
		}
		return true
	}
	if h.Features.Immediate {
		if !has() {
			t.Fatalf("write returned, but the destination has %v, not all of %v", h.Received(t), seqs)
		}
		return
	}
	if !waitUntil(5*time.Second, has) {
		t.Fatalf("the destination has %v, not all of %v", h.Received(t), seqs)
	}
}

func closeSink(t *testing.T, closeFn func(context.Context) error) {
	t.Helper()
	if closeFn == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := closeFn(ctx); err != nil {
		t.Errorf("close: %v", err)
	}
}

// Write and WriteBatch return nil only once the destination has the
// messages; each arrives once, in order.
func testWriteConfirms(t *testing.T, h SinkHarness) {
	s, closeFn := h.New(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for i := range 5 {
		if err := s.Write(ctx, h.message(i)); err != nil {
			t.Fatalf("write %d: %v", i, err)
		}
		h.received(t, i)
	}
	want := seqs(0, 5)
	if b, ok := s.(pipeline.BatchSink); ok {
		var batch []*pipeline.Message
		for i := 5; i < 10; i++ {
			batch = append(batch, h.message(i))
		}
		if err := b.WriteBatch(ctx, batch); err != nil {
			t.Fatalf("write batch: %v", err)
		}
		want = seqs(0, 10)
		h.received(t, want...)
	}
	closeSink(t, closeFn)
	if h.Features.Discards {
		return
	}
	if got := h.Received(t); !slices.Equal(got, want) {
		t.Errorf("the destination has %v, want %v once each, in order", got, want)
	}
}

// Writes from several goroutines (a sink node with workers) each arrive
// once and whole.
func testConcurrentWrites(t *testing.T, h SinkHarness) {
	s, closeFn := h.New(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	const workers, each = 4, 5
	errs := make([]error, workers*each)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				seq := w*each + i
				errs[seq] = s.Write(ctx, h.message(seq))
			}
		})
	}
	wg.Wait()
	for seq, err := range errs {
		if err != nil {
			t.Fatalf("write %d: %v", seq, err)
		}
	}
	want := seqs(0, workers*each)
	h.received(t, want...)
	closeSink(t, closeFn)
	if h.Features.Discards {
		return
	}
	for seq, k := range counts(h.Received(t)) {
		if k != 1 {
			t.Errorf("message %d arrived %d times", seq, k)
		}
	}
}

// A write to a destination that has failed returns an error, within the
// sink's own timeout: never nil, never a hang. This is also what shows that
// nil means confirmed: a sink that does not wait for the broker's
// acknowledgement (or the file's write) returns nil here.
func testWriteFails(t *testing.T, h SinkHarness) {
	if h.Break == nil {
		t.Skip("the sink cannot fail (SinkHarness.Break is nil)")
	}
	s, closeFn := h.New(t)
	defer closeSink(t, closeFn)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := s.Write(ctx, h.message(0)); err != nil {
		t.Fatalf("write before the failure: %v", err)
	}
	h.Break(t)
	start := time.Now()
	err := s.Write(ctx, h.message(1))
	if err == nil {
		t.Fatal("write succeeded after the destination failed")
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("the failing write took %v: use the sink's timeout", d)
	}
	t.Logf("write after the failure: %v", err)
}

// Close lets writes in progress finish: each either returns nil and the
// message is at the destination, or returns an error; neither Close nor the
// writes hang. A write after Close fails.
func testCloseDrains(t *testing.T, h SinkHarness) {
	s, closeFn := h.New(t)
	if closeFn == nil {
		t.Skip("the sink has nothing to close")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Write(ctx, h.message(0)); err != nil {
		t.Fatalf("write: %v", err)
	}
	const k = 8
	errs := make([]error, k)
	var wg sync.WaitGroup
	started := make(chan struct{}, k)
	for i := range k {
		wg.Go(func() {
			started <- struct{}{}
			errs[i] = s.Write(ctx, h.message(1+i))
		})
	}
	<-started
	closed := make(chan error, 1)
	go func() { closed <- closeFn(ctx) }()
	writesDone := make(chan struct{})
	go func() { wg.Wait(); close(writesDone) }()
	select {
	case err := <-closed:
		if err != nil {
			t.Errorf("close: %v", err)
		}
	case <-time.After(12 * time.Second):
		t.Fatal("close did not return")
	}
	select {
	case <-writesDone:
	case <-time.After(12 * time.Second):
		t.Fatal("writes did not return after close")
	}
	ok := []int{0}
	for i, err := range errs {
		if err == nil {
			ok = append(ok, 1+i)
		}
	}
	t.Logf("%d of %d writes racing close succeeded", len(ok)-1, k)
	h.received(t, ok...)
	if err := s.Write(ctx, h.message(100)); err == nil {
		t.Error("write after close succeeded")
	}
	if h.Features.Discards {
		return
	}
	if got := h.Received(t); slices.Contains(got, 100) {
		t.Errorf("a write after close reached the destination: %v", got)
	}
}
