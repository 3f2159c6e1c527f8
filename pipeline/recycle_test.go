package pipeline

import (
	"sync"
	"testing"
)

// TestRecycler: values put from other goroutines come back from Get, each
// once, and an empty recycler gives nil.
func TestRecycler(t *testing.T) {
	var r Recycler[int]
	if v := r.Get(); v != nil {
		t.Fatalf("empty recycler gave %v", v)
	}
	var wg sync.WaitGroup
	for i := range 100 {
		wg.Go(func() { v := i; r.Put(&v) })
	}
	wg.Wait()
	seen := map[int]bool{}
	for v := r.Get(); v != nil; v = r.Get() {
		if seen[*v] {
			t.Fatalf("%d came back twice", *v)
		}
		seen[*v] = true
	}
	if len(seen) != 100 {
		t.Fatalf("%d of 100 values came back", len(seen))
	}
}
