package pipeline

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// settlements records how each source message ended.
type settlements struct {
	mu    sync.Mutex
	acked map[int]int // seq -> times acked
	nack  map[int]error
}

func newSettlements() *settlements {
	return &settlements{acked: map[int]int{}, nack: map[int]error{}}
}

func (s *settlements) settle(token any, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	seq := token.(int)
	if err != nil {
		s.nack[seq] = err
		return
	}
	s.acked[seq]++
}

func (s *settlements) counts() (acked, nacked int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.acked), len(s.nack)
}

func (s *settlements) isAcked(seq int) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.acked[seq] > 0
}

// seqSource emits n tracked messages numbered 0..n-1 (forever when n < 0),
// each with Fields["seq"].
type seqSource struct {
	n       int
	settle  *settlements
	emitted atomic.Int64
	// resume, when set, holds the source after its first message until
	// it is closed, so a test can order the first delivery.
	resume <-chan struct{}
}

func (s *seqSource) Run(ctx context.Context, out SourceOutput) error {
	for i := 0; s.n < 0 || i < s.n; i++ {
		if ctx.Err() != nil {
			return nil
		}
		if i == 1 && s.resume != nil {
			<-s.resume
		}
		m := NewMessage(nil)
		m.Fields = map[string]any{"seq": i}
		m.Key = fmt.Sprint(i % 3)
		if s.settle != nil {
			m.Track(s.settle.settle, i)
		}
		if err := out.Emit(m); err != nil {
			return nil
		}
		s.emitted.Add(1)
	}
	return nil
}

// collectSink records the seq of every message it delivers. When gate is
// non-nil each Write waits for a token from it first.
type collectSink struct {
	mu      sync.Mutex
	seqs    []int
	gate    chan struct{}
	fail    func(seq int) error
	entered chan struct{} // closed when the first Write begins, if set
	once    sync.Once
}

func (c *collectSink) Write(ctx context.Context, m *Message) error {
	if c.entered != nil {
		c.once.Do(func() { close(c.entered) })
	}
	if c.gate != nil {
		select {
		case <-c.gate:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	seq := m.Fields["seq"].(int)
	if c.fail != nil {
		if err := c.fail(seq); err != nil {
			return err
		}
	}
	c.mu.Lock()
	c.seqs = append(c.seqs, seq)
	c.mu.Unlock()
	return nil
}

func (c *collectSink) got() []int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]int(nil), c.seqs...)
}

// procFunc adapts a function to Processor.
type procFunc func(ctx context.Context, m *Message, out Emitter) error

func (f procFunc) Process(ctx context.Context, m *Message, out Emitter) error { return f(ctx, m, out) }

var pass = procFunc(func(_ context.Context, m *Message, out Emitter) error { out.Emit(m); return nil })

func mustAdd(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// runAsync runs p and returns a channel with its result.
func runAsync(ctx context.Context, p *Pipeline) <-chan error {
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	return done
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

var errBoom = errors.New("boom")
