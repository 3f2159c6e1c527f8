package replay

import (
	"context"
	"sync/atomic"
	"testing"
	"time"
)

// TestGateHoldsThePublisher: the publisher gets at most `ahead` readings
// beyond what the pipeline received, and goes on as the pipeline reads.
func TestGateHoldsThePublisher(t *testing.T) {
	var received, handed atomic.Uint64
	received.Store(7) // probes before the first reading
	g := &gate{ctx: context.Background(), base: 7, ahead: 3, received: received.Load}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range 10 {
			g.wait()
			handed.Add(1)
		}
	}()
	waitUntil := func(n uint64) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for handed.Load() < n {
			if time.Now().After(deadline) {
				t.Fatalf("%d readings handed out, want %d", handed.Load(), n)
			}
			time.Sleep(time.Millisecond)
		}
	}
	waitUntil(4)
	time.Sleep(50 * time.Millisecond)
	if n := handed.Load(); n != 4 {
		t.Fatalf("%d readings handed out with none received, want 4 (3 ahead and the one being published)", n)
	}
	received.Add(2)
	waitUntil(6)
	time.Sleep(50 * time.Millisecond)
	if n := handed.Load(); n != 6 {
		t.Fatalf("%d readings handed out with 2 received, want 6", n)
	}
	received.Add(100)
	<-done
}

// TestGateStopsWaitingOnCancel: a cancelled run does not hang in the gate.
func TestGateStopsWaitingOnCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	g := &gate{ctx: ctx, ahead: 1, received: func() uint64 { return 0 }}
	g.wait()
	g.wait()
	done := make(chan struct{})
	go func() { g.wait(); close(done) }()
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("wait did not return after cancel")
	}
}
