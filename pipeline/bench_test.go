package pipeline

import (
	"context"
	"testing"
)

// The engine benchmarks compare a source -> stage -> sink pipeline with a
// plain chain of Go channels of the same shape and buffer size, in one run.
// Each message is allocated by the source (one allocation, tracker
// included); everything else per message is the engine's.
//
//	go test ./pipeline -run '^$' -bench 'Chain' -benchmem -cpu 1,2

type countingSource struct{ n int }

func (s countingSource) Run(_ context.Context, out SourceOutput) error {
	for i := 0; i < s.n; i++ {
		if err := out.Emit(&Message{Key: "k"}); err != nil {
			return err
		}
	}
	return nil
}

type discard struct{}

func (discard) Write(context.Context, *Message) error { return nil }

func BenchmarkEngineChain(b *testing.B) {
	p := New(Options{Buffer: 256})
	mustAdd(b, p.AddSource("src", countingSource{n: b.N}, NodeOptions{}))
	mustAdd(b, p.AddStage("map", pass, []string{"src"}, NodeOptions{}))
	mustAdd(b, p.AddSink("drop", discard{}, []string{"map"}, NodeOptions{}))
	b.ReportAllocs()
	b.ResetTimer()
	if err := p.Run(context.Background()); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}

func BenchmarkPlainChannelChain(b *testing.B) {
	a, c := make(chan *Message, 256), make(chan *Message, 256)
	done := make(chan struct{})
	go func() {
		for m := range a {
			c <- m
		}
		close(c)
	}()
	go func() {
		for range c {
		}
		close(done)
	}()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		a <- &Message{Key: "k"}
	}
	close(a)
	<-done
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}

// TestEngineAddsNoAllocations guards the hot path: the source allocates the
// message, and the engine nothing more per message (queues, acks, metrics).
func TestEngineAddsNoAllocations(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a benchmark")
	}
	r := testing.Benchmark(BenchmarkEngineChain)
	if r.N == 0 {
		t.Fatal("benchmark did not run")
	}
	// Amortised goroutine and queue set-up rounds down to zero over r.N.
	if got := r.AllocsPerOp(); got > 1 {
		t.Fatalf("%d allocations per message, want 1 (the message itself)", got)
	}
}
