package window

import (
	"context"
	"testing"
	"time"

	"github.com/edgeflow/edgeflow/internal/componenttest"
	"github.com/edgeflow/edgeflow/pipeline"
)

// counter is an Emitter that counts and drops.
type counter struct {
	n    int
	last *pipeline.Message
}

func (c *counter) Emit(m *pipeline.Message) { c.n, c.last = c.n+1, m }

// slide feeds w one reading per call, cycling through msgs, as a generator
// reusing its messages would.
func slide(tb testing.TB, w *Window, msgs []*pipeline.Message, out pipeline.Emitter) func() {
	i := 0
	return func() {
		if err := w.Process(context.Background(), msgs[i%len(msgs)], out); err != nil {
			tb.Fatal(err)
		}
		i++
	}
}

// TestSlidingWindowAllocations guards the per-window cost of a sliding
// window (size 64, step 1), which feeds a small model once per reading: a
// window allocates only its end time's box (its start was boxed as an
// earlier window's end); its message, fields map and values' slice are
// reused once settled (this emitter settles each at once); nothing per
// value or per key lookup.
func TestSlidingWindowAllocations(t *testing.T) {
	w := componenttest.MustBuild(t, pipeline.KindStage, "window", "size: 64").(*Window)
	msgs := readings(256, "a")
	out := &counter{}
	next := slide(t, w, msgs, out)
	for range 64 { // fill the ring
		next()
	}
	allocs := testing.AllocsPerRun(500, next)
	t.Logf("%v allocations per window", allocs)
	if !raceEnabled && allocs > 1 {
		t.Errorf("a sliding window allocates %v times, want at most 1", allocs)
	}
	if out.n != 64-63+501 {
		t.Fatalf("%d windows, want %d", out.n, 64-63+501)
	}
	// The last window still says what it holds: the 64 readings before
	// and including the last one fed, oldest first, and their times.
	m, last := out.last, (64+501-1)%len(msgs)
	vals := m.Fields["window"].([]float32)
	for k, v := range vals {
		if want := float32((last - 63 + k + len(msgs)) % len(msgs)); v != want {
			t.Fatalf("window[%d] = %v, want %v", k, v, want)
		}
	}
	first := msgs[(last-63+len(msgs))%len(msgs)].SourceTime
	if m.Fields["count"] != 64 || !m.Fields["start"].(time.Time).Equal(first) ||
		!m.Fields["end"].(time.Time).Equal(msgs[last].SourceTime) || m.Fields["key"] != "a" {
		t.Fatalf("fields %v", m.Fields)
	}
}

// BenchmarkSlidingWindow is the window stage's cost per emitted window of 64.
func BenchmarkSlidingWindow(b *testing.B) {
	w := componenttest.MustBuild(b, pipeline.KindStage, "window", "size: 64").(*Window)
	msgs := readings(256, "a")
	next := slide(b, w, msgs, &counter{})
	b.ReportAllocs()
	for b.Loop() {
		next()
	}
}
