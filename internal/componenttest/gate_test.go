package componenttest

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/edgeflow/edgeflow/pipeline"
)

func TestGateHoldsUntilOpen(t *testing.T) {
	g := NewGate(false)
	done := make(chan error, 1)
	go func() { done <- g.Write(context.Background(), Message(7)) }()
	WaitFor(t, 5*time.Second, "the write to be held", func() bool { return g.Held() == 1 })
	select {
	case err := <-done:
		t.Fatalf("write returned %v through a shut gate", err)
	case <-time.After(50 * time.Millisecond):
	}
	g.Open()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if d := g.Delivered(); !slices.Equal(d, []int{7}) || g.Held() != 0 {
		t.Fatalf("delivered %v, held %d", d, g.Held())
	}
}

func TestGateFailsOnContextAndOnRequest(t *testing.T) {
	g := NewGate(false)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := g.Write(ctx, Message(1)); !errors.Is(err, context.Canceled) {
		t.Fatalf("shut gate, cancelled context: %v", err)
	}
	g.Open()
	g.Fail = func(seq, attempt int) error {
		if attempt == 1 {
			return errors.New("no")
		}
		return nil
	}
	if err := g.Write(context.Background(), Message(2)); err == nil {
		t.Fatal("first attempt did not fail")
	}
	if err := g.Write(context.Background(), Message(2)); err != nil {
		t.Fatal(err)
	}
	if g.Attempts(2) != 2 || !slices.Equal(g.Delivered(), []int{2}) {
		t.Fatalf("attempts %d, delivered %v", g.Attempts(2), g.Delivered())
	}
	// Probes pass uncounted; a message without a seq is refused for good.
	if err := g.Write(context.Background(), Message(-1)); err != nil || g.Probes() != 1 {
		t.Fatalf("probe: %v, %d probes", err, g.Probes())
	}
	if err := g.Write(context.Background(), pipeline.NewMessage(nil)); !pipeline.IsPermanent(err) {
		t.Fatalf("message without a seq: %v", err)
	}
}

func TestSeqOfPayload(t *testing.T) {
	if s, ok := SeqOfPayload(Payload(42)); !ok || s != 42 {
		t.Fatalf("%d %v", s, ok)
	}
	if _, ok := SeqOfPayload([]byte(`{"value":1}`)); ok {
		t.Fatal("no seq field, yet ok")
	}
	m := Message(3)
	m.Fields = map[string]any{"seq": 3.0}
	if s, ok := SeqOf(m); !ok || s != 3 {
		t.Fatalf("%d %v", s, ok)
	}
}
