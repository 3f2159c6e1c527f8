package pipeline

import (
	"context"
	"fmt"
	"sync"
	"syscall"
	"testing"
	"time"
)

// threadStage records the OS thread of every call; it parks now and then
// (a sleep), so that an unlocked goroutine would resume on whichever
// thread is free.
type threadStage struct {
	mu      sync.Mutex
	threads map[int]int // thread -> calls
	bound   bool
}

func (s *threadStage) ThreadBound() bool { return s.bound }

func (s *threadStage) Process(_ context.Context, m *Message, out Emitter) error {
	tid := syscall.Gettid()
	s.mu.Lock()
	s.threads[tid]++
	s.mu.Unlock()
	if m.Fields["seq"].(int)%8 == 0 {
		time.Sleep(50 * time.Microsecond)
	}
	out.Emit(m)
	return nil
}

// TestThreadBoundWorkersKeepTheirThread: each worker of a stage that asks
// for it runs every call on one OS thread, with one worker, several, and
// several in order; messages still all arrive.
func TestThreadBoundWorkersKeepTheirThread(t *testing.T) {
	for _, c := range []struct {
		workers int
		ordered bool
	}{{1, false}, {3, false}, {3, true}} {
		t.Run(fmt.Sprintf("workers=%d,ordered=%v", c.workers, c.ordered), func(t *testing.T) {
			const n = 2000
			stage := &threadStage{threads: map[int]int{}, bound: true}
			sink := &collectSink{}
			p := New(Options{Buffer: 4})
			mustAdd(t, p.AddSource("src", &seqSource{n: n}, NodeOptions{}))
			mustAdd(t, p.AddStage("bound", stage, []string{"src"}, NodeOptions{Workers: c.workers, Ordered: c.ordered}))
			mustAdd(t, p.AddSink("out", sink, []string{"bound"}, NodeOptions{}))
			// Other goroutines keep the scheduler's threads busy and
			// changing while the stage runs.
			ctx, cancel := context.WithCancel(context.Background())
			var wg sync.WaitGroup
			for range 4 {
				wg.Go(func() {
					for ctx.Err() == nil {
						time.Sleep(20 * time.Microsecond)
					}
				})
			}
			err := p.Run(context.Background())
			cancel()
			wg.Wait()
			if err != nil {
				t.Fatal(err)
			}
			if got := len(sink.got()); got != n {
				t.Fatalf("%d messages delivered, want %d", got, n)
			}
			if len(stage.threads) > c.workers {
				t.Errorf("%d workers ran on %d OS threads (calls per thread %v), want at most %d",
					c.workers, len(stage.threads), stage.threads, c.workers)
			}
		})
	}
}
