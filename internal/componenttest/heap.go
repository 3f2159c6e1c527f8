package componenttest

import (
	"runtime"
	"slices"
	"sync"
	"testing"
)

// LiveHeap is the heap still reachable after a full collection, in bytes:
// what a leak grows, whatever the garbage of the moment.
func LiveHeap() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// HeapTrack samples the live heap through one stream: before it
// (StartHeap), while it runs (Sample, every few messages) and after it
// (Stop). Poison tests use it to show that memory stays flat: nothing a
// dead-lettered message brought in stays behind.
type HeapTrack struct {
	mu      sync.Mutex
	base    uint64
	samples []uint64
	end     uint64
}

// StartHeap takes the baseline sample.
func StartHeap() *HeapTrack { return &HeapTrack{base: LiveHeap()} }

// Sample records the live heap now. Safe for concurrent use.
func (h *HeapTrack) Sample() {
	v := LiveHeap()
	h.mu.Lock()
	h.samples = append(h.samples, v)
	h.mu.Unlock()
}

// Stop takes the last sample, once the stream is drained.
func (h *HeapTrack) Stop() { h.end = LiveHeap() }

// Left is what the stream left on the live heap.
func (h *HeapTrack) Left() int64 { return int64(h.end) - int64(h.base) }

// Creep is how much the floor of the live heap (its lowest sample) rose
// from the first half of the stream to the second: about zero when memory
// is flat, since the messages in flight come and go alike in both halves
// (and the floor is the sample with the fewest of them), and about half
// the leak when every message leaks.
func (h *HeapTrack) Creep() int64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	half := len(h.samples) / 2
	return int64(slices.Min(h.samples[half:])) - int64(slices.Min(h.samples[:half]))
}

// FlatHeap fails t unless memory stayed flat across two streams of the same
// good messages, few with some poison messages and many with ten times as
// many: in each, the floor of the live heap in the second half of the
// stream is within slack bytes of the first half's; and the stream with more poison leaves at most slack bytes
// more behind than the other.
func FlatHeap(t testing.TB, few, many *HeapTrack, slack int64) {
	t.Helper()
	if len(few.samples) < 4 || len(many.samples) < 4 {
		t.Fatalf("too few heap samples (%d and %d) to tell", len(few.samples), len(many.samples))
	}
	t.Logf("live heap: few poison: left %+d B, creep %+d B; 10x poison: left %+d B, creep %+d B (slack %d B)",
		few.Left(), few.Creep(), many.Left(), many.Creep(), slack)
	for _, h := range []struct {
		name string
		h    *HeapTrack
	}{{"few poison messages", few}, {"10x poison messages", many}} {
		if c := h.h.Creep(); c > slack {
			t.Errorf("%s: the live heap grew by %d B from the first half of the stream to the second (slack %d B): a leak", h.name, c, slack)
		}
	}
	if d := many.Left() - few.Left(); d > slack {
		t.Errorf("10x the poison messages left %d B more live heap behind (slack %d B): dead-lettered messages are kept", d, slack)
	}
}
