package pipeline

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

// heldSink is a PipelinedSink whose confirmations wait until the test
// releases them. It records the order of sends and fails seq 3 once.
type heldSink struct {
	mu       sync.Mutex
	sent     []int // seqs in Send order
	written  []int // seqs retried through WriteBatch
	inFlight int   // batches sent and not yet confirmed
	maxIn    int
	release  chan struct{}
	failed3  bool
}

func seqOf(m *Message) int { return m.Fields["seq"].(int) }

func (s *heldSink) Write(ctx context.Context, m *Message) error {
	return s.WriteBatch(ctx, []*Message{m})
}

func (s *heldSink) WriteBatch(_ context.Context, b []*Message) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, m := range b {
		s.written = append(s.written, seqOf(m))
	}
	return nil
}

func (s *heldSink) Send(_ context.Context, b []*Message) func() error {
	s.mu.Lock()
	errs := make([]error, len(b))
	failed := false
	for i, m := range b {
		s.sent = append(s.sent, seqOf(m))
		if seqOf(m) == 3 && !s.failed3 {
			s.failed3, errs[i], failed = true, errors.New("not confirmed"), true
		}
	}
	s.inFlight++
	s.maxIn = max(s.maxIn, s.inFlight)
	s.mu.Unlock()
	return func() error {
		<-s.release
		s.mu.Lock()
		s.inFlight--
		s.mu.Unlock()
		if failed {
			return &BatchError{Errs: errs}
		}
		return nil
	}
}

// A PipelinedSink gets later batches sent before earlier ones are
// confirmed, in input order, at most sinkWindow at a time; a message is
// settled only once its confirmation is in; what failed is written again.
func TestPipelinedSinkSendsAheadSettlesOnConfirmation(t *testing.T) {
	const n = 200
	st := newSettlements()
	sink := &heldSink{release: make(chan struct{})}
	p := New(Options{})
	mustAdd(t, p.AddSource("src", &seqSource{n: n, settle: st}, NodeOptions{}))
	mustAdd(t, p.AddSink("out", sink, []string{"src"}, NodeOptions{BatchSize: 1, Retries: 2, RetryBackoff: time.Millisecond}))
	done := make(chan error, 1)
	go func() { done <- p.Run(context.Background()) }()

	// Nothing is confirmed yet: the sink fills its window, and nothing is
	// acknowledged.
	deadline := time.Now().Add(10 * time.Second)
	for {
		sink.mu.Lock()
		in := sink.inFlight
		sink.mu.Unlock()
		if in >= sinkWindow {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d batches sent without confirmation, want the window of %d", in, sinkWindow)
		}
		time.Sleep(time.Millisecond)
	}
	time.Sleep(20 * time.Millisecond)
	if acked, nacked := st.counts(); acked != 0 || nacked != 0 {
		t.Fatalf("acked %d, nacked %d before any confirmation", acked, nacked)
	}
	close(sink.release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if acked, nacked := st.counts(); acked != n || nacked != 0 {
		t.Fatalf("acked %d nacked %d, want all %d acked", acked, nacked, n)
	}
	for i, seq := range sink.sent {
		if seq != i {
			t.Fatalf("send %d was seq %d: batches must be sent in input order", i, seq)
		}
	}
	if sink.maxIn > sinkWindow {
		t.Errorf("%d batches awaited at once, want at most %d", sink.maxIn, sinkWindow)
	}
	if len(sink.written) != 1 || sink.written[0] != 3 {
		t.Errorf("retried %v, want only [3], the one not confirmed", sink.written)
	}
}
