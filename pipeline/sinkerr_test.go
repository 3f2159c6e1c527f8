package pipeline

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

// pickySink fails odd seqs permanently, and seqs divisible by 4 with a
// transient error on their first attempt only.
type pickySink struct {
	mu        sync.Mutex
	attempts  map[int]int
	delivered []int
}

func (p *pickySink) Write(ctx context.Context, m *Message) error {
	return p.WriteBatch(ctx, []*Message{m})
}

func (p *pickySink) WriteBatch(_ context.Context, batch []*Message) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	errs := make([]error, len(batch))
	failed := false
	for i, m := range batch {
		seq := m.Fields["seq"].(int)
		p.attempts[seq]++
		switch {
		case seq%2 == 1:
			errs[i] = Permanent(errors.New("cannot encode"))
		case seq%4 == 0 && p.attempts[seq] == 1:
			errs[i] = errors.New("broker busy")
		default:
			p.delivered = append(p.delivered, seq)
			continue
		}
		failed = true
	}
	if !failed {
		return nil
	}
	return &BatchError{Errs: errs}
}

func TestBatchSinkPartialFailures(t *testing.T) {
	st := newSettlements()
	sink := &pickySink{attempts: map[int]int{}}
	dead := &deadSink{}
	gate := make(chan struct{})
	p := New(Options{})
	mustAdd(t, p.AddSource("src", &gatedSource{inner: &seqSource{n: 40, settle: st}, gate: gate}, NodeOptions{}))
	mustAdd(t, p.AddSink("out", sink, []string{"src"}, NodeOptions{Retries: 2, RetryBackoff: time.Millisecond, Buffer: 64}))
	mustAdd(t, p.SetDeadLetter("dlq", dead, NodeOptions{}))
	close(gate)
	mustAdd(t, p.Run(context.Background()))

	if len(sink.delivered) != 20 {
		t.Fatalf("delivered %d, want the 20 even seqs", len(sink.delivered))
	}
	if len(dead.msgs) != 20 {
		t.Fatalf("dead letters %d, want the 20 odd seqs", len(dead.msgs))
	}
	for seq, n := range sink.attempts {
		want := 1
		if seq%4 == 0 {
			want = 2 // one transient failure, then delivered
		}
		if n != want {
			t.Errorf("seq %d written %d times, want %d: only failed messages are retried, permanent ones never", seq, n, want)
		}
	}
	if acked, nacked := st.counts(); acked != 40 || nacked != 0 {
		t.Fatalf("acked %d nacked %d, want all 40 acked", acked, nacked)
	}
	if s, _ := p.Stats("out"); s.Errors != 20 {
		t.Fatalf("sink errors %d, want 20 (the dead-lettered ones)", s.Errors)
	}
}

func TestPermanentWithoutDeadLetterNacks(t *testing.T) {
	st := newSettlements()
	sink := &collectSink{fail: func(int) error { return Permanent(errBoom) }}
	p := New(Options{})
	mustAdd(t, p.AddSource("src", &seqSource{n: 3, settle: st}, NodeOptions{}))
	mustAdd(t, p.AddSink("out", sink, []string{"src"}, NodeOptions{Retries: 5}))
	mustAdd(t, p.Run(context.Background()))
	if acked, nacked := st.counts(); acked != 0 || nacked != 3 {
		t.Fatalf("acked %d nacked %d", acked, nacked)
	}
	if !errors.Is(st.nack[0], errBoom) || !IsPermanent(st.nack[0]) {
		t.Fatalf("nack %v should wrap the permanent error", st.nack[0])
	}
}
