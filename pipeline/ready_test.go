package pipeline

import (
	"context"
	"sync/atomic"
	"testing"
	"time"
)

// subscribingSource becomes ready only when told to, as a broker source
// does once its subscription is acknowledged.
type subscribingSource struct{ ready atomic.Bool }

func (s *subscribingSource) Ready() bool { return s.ready.Load() }

func (s *subscribingSource) Run(ctx context.Context, _ SourceOutput) error {
	<-ctx.Done()
	return nil
}

// The pipeline is not ready while a Readier source is not, so that a
// publisher waiting for /readyz loses nothing to a subscription in flight.
func TestReadyWaitsForReadierSources(t *testing.T) {
	src := &subscribingSource{}
	p := New(Options{})
	mustAdd(t, p.AddSource("src", src, NodeOptions{}))
	mustAdd(t, p.AddSink("out", &collectSink{}, []string{"src"}, NodeOptions{}))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	time.Sleep(50 * time.Millisecond) // every node has started by now
	if p.Ready() {
		t.Fatal("ready while the source is not")
	}
	src.ready.Store(true)
	deadline := time.Now().Add(5 * time.Second)
	for !p.Ready() {
		if time.Now().After(deadline) {
			t.Fatal("not ready once the source is")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
