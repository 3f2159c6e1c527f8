package generate

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/edgeflow/edgeflow/pipeline"
)

// holder is a stage that keeps up to hold messages (retained, as a window
// does) and checks, when it lets one go, that nobody changed it meanwhile:
// the generator must reuse a message only once it is settled.
type holder struct {
	hold  int
	kept  []kept
	fails []string
}

type kept struct {
	m     *pipeline.Message
	key   string
	value float64
}

func (h *holder) Process(_ context.Context, m *pipeline.Message, out pipeline.Emitter) error {
	m.Retain()
	h.kept = append(h.kept, kept{m, m.Key, m.Fields["value"].(float64)})
	if len(h.kept) > h.hold {
		h.letGo(out)
	}
	return nil
}

func (h *holder) letGo(out pipeline.Emitter) {
	k := h.kept[0]
	h.kept = h.kept[1:]
	if v, _ := k.m.Fields["value"].(float64); k.m.Key != k.key || v != k.value {
		h.fails = append(h.fails, k.key)
	}
	out.Emit(k.m) // the engine holds its own reference to k.m while it is queued
	k.m.Release(nil)
}

func (h *holder) Flush(_ context.Context, out pipeline.Emitter) error {
	for len(h.kept) > 0 {
		h.letGo(out)
	}
	return nil
}

// distinct counts the distinct messages a sink is handed.
type distinct struct {
	mu   sync.Mutex
	seen map[*pipeline.Message]bool
	n    int
}

func (d *distinct) Write(_ context.Context, m *pipeline.Message) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.seen[m] = true
	d.n++
	return nil
}

func TestReusesOnlySettledMessages(t *testing.T) {
	const count = 5000
	h := &holder{hold: 300} // more than the queues hold
	sink := &distinct{seen: map[*pipeline.Message]bool{}}
	p := pipeline.New(pipeline.Options{Name: "test", Buffer: 16})
	if err := errors.Join(
		p.AddSource("gen", gen(t, "keys: 7\nrate: 0\nwaveform: noise\ncount: 5000"), pipeline.NodeOptions{}),
		p.AddStage("hold", h, []string{"gen"}, pipeline.NodeOptions{}),
		p.AddSink("out", sink, []string{"hold"}, pipeline.NodeOptions{})); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := p.Run(ctx); err != nil {
		t.Fatal(err)
	}
	if len(h.fails) > 0 {
		t.Fatalf("%d messages changed while a stage held them (first of key %s): reused before settled", len(h.fails), h.fails[0])
	}
	if sink.n != count {
		t.Fatalf("sink got %d messages, want %d", sink.n, count)
	}
	// At most the held ones, the queues' and those in hand are in flight
	// at once; everything else was reused.
	if len(sink.seen) > 400 {
		t.Fatalf("%d distinct messages for %d readings: settled messages are not reused", len(sink.seen), count)
	}
	t.Logf("%d readings in %d messages", count, len(sink.seen))
}
