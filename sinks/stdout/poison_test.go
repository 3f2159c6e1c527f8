package stdout

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/edgeflow/edgeflow/internal/componenttest"
	"github.com/edgeflow/edgeflow/pipeline"
)

// seqCounter is the sink's output: it counts the lines by their seq field
// and keeps nothing else, so that a heap check sees the sink's memory.
type seqCounter struct {
	mu       sync.Mutex
	envelope bool
	got      map[int]int
	err      error
}

func (c *seqCounter) Write(b []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for line := range bytes.Lines(b) {
		var rec struct {
			Seq    int
			Fields struct{ Seq int }
		}
		if err := json.Unmarshal(line, &rec); err != nil {
			c.err = errors.Join(c.err, err)
			continue
		}
		if c.envelope {
			rec.Seq = rec.Fields.Seq
		}
		c.got[rec.Seq]++
	}
	return len(b), nil
}

// A message the format cannot encode (a field holding a channel: stdout
// has no size limit nor template, so that is its only poison) goes to the
// dead-letter sink once, with its reason, and every good message of its
// batch is written once. Before, it failed its whole batch as a passing
// error: retried for ever with retry max -1. Memory stays flat: a stream
// with ten times the poison messages leaves no more live heap behind, and
// does not creep while it runs.
func TestSinkDeadLettersPoisonAndWritesTheRest(t *testing.T) {
	for _, format := range []string{"json", "envelope"} {
		t.Run(format, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
			defer cancel()
			stream := func(poison int) *componenttest.HeapTrack {
				s := componenttest.MustBuild(t, pipeline.KindSink, "stdout", "format: "+format).(*Sink)
				out := &seqCounter{envelope: format == "envelope", got: map[int]int{}}
				s.w = out
				const good = 180
				// The oversize ones keep their 100 KB blob, so that a dead
				// letter kept by mistake shows on the heap.
				src := &componenttest.PoisonSource{Good: good, Poison: poison, Blob: 100 << 10,
					Spoil: func(_ string, fields map[string]any) { fields["bad"] = make(chan int) }}
				componenttest.StreamPoison(ctx, t, src, s, map[string]string{
					componenttest.Oversize: "cannot encode chan int", componenttest.Invalid: "cannot encode chan int"})
				out.mu.Lock()
				defer out.mu.Unlock()
				if out.err != nil {
					t.Fatalf("unreadable output: %v", out.err)
				}
				for i := 1; i <= src.N(); i++ {
					if want := map[bool]int{true: 1, false: 0}[src.Kind(i) == ""]; out.got[i] != want {
						t.Errorf("seq %d (%q) written %d times, want %d", i, src.Kind(i), out.got[i], want)
					}
				}
				return src.Heap
			}
			few := stream(20)
			many := stream(200)
			componenttest.FlatHeap(t, few, many, 2<<20)
		})
	}
}
