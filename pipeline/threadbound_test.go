package pipeline

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"
)

// threadStage records the OS thread of every call; it parks now and then
// (a sleep), so that an unlocked goroutine would resume on whichever
// thread is free. Its first call waits until the source has queued every
// message, so that its workers never run out of work.
type threadStage struct {
	mu      sync.Mutex
	threads map[int]int // thread -> calls
	bound   bool
	src     *seqSource
	start   sync.Once
}

func (s *threadStage) ThreadBound() bool { return s.bound }

func (s *threadStage) Process(_ context.Context, m *Message, out Emitter) error {
	s.start.Do(func() {
		for s.src.emitted.Load() < int64(s.src.n) {
			time.Sleep(time.Millisecond)
		}
	})
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

// TestThreadBoundWorkersKeepTheirThread: while it has work, each worker of
// a stage that asks for it runs every call on one OS thread, with one
// worker, several, and several in order; messages still all arrive.
func TestThreadBoundWorkersKeepTheirThread(t *testing.T) {
	for _, c := range []struct {
		workers int
		ordered bool
	}{{1, false}, {3, false}, {3, true}} {
		t.Run(fmt.Sprintf("workers=%d,ordered=%v", c.workers, c.ordered), func(t *testing.T) {
			const n = 2000
			src := &seqSource{n: n}
			stage := &threadStage{threads: map[int]int{}, bound: true, src: src}
			sink := &collectSink{}
			p := New(Options{Buffer: 4})
			mustAdd(t, p.AddSource("src", src, NodeOptions{}))
			mustAdd(t, p.AddStage("bound", stage, []string{"src"}, NodeOptions{Workers: c.workers, Ordered: c.ordered, Buffer: n}))
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
			// An ordered pool's workers may let go of their threads for
			// the last few messages: their job channel and the input both
			// ran dry while the dispatcher still held one.
			counts := slices.Sorted(maps.Values(stage.threads))
			slices.Reverse(counts)
			elsewhere := 0
			for _, calls := range counts[min(c.workers, len(counts)):] {
				elsewhere += calls
			}
			if tail := map[bool]int{false: 0, true: c.workers}[c.ordered]; elsewhere > tail {
				t.Errorf("%d workers ran on %d OS threads (calls per thread %v): %d calls off the workers' own, want at most %d",
					c.workers, len(stage.threads), stage.threads, elsewhere, tail)
			}
		})
	}
}
