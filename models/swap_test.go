package models_test

import (
	"math"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/edgeflow/edgeflow/models"
	"github.com/edgeflow/edgeflow/models/modeltest"
)

// TestSwapUnderLoad swaps in-memory versions while four goroutines run
// the model: every run succeeds on one whole version (no gap, no torn
// read), a broken version is refused while the current one serves, and
// every replaced version is destroyed once its runs are done.
func TestSwapUnderLoad(t *testing.T) {
	modeltest.RequireRuntime(t)
	v1 := &modeltest.MLP{In: 16, Hidden: 32, Out: 4, Seed: 1, Scale: 1}
	v2 := &modeltest.MLP{In: 16, Hidden: 32, Out: 4, Seed: 1, Scale: 2}
	b1, err := v1.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	b2, err := v2.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	m, err := models.OpenBytes("learned", b1, models.LoadOptions{Options: models.Options{IntraOpThreads: 1}})
	if err != nil {
		t.Fatal(err)
	}
	x := v1.Input(9)
	in := []models.Tensor{{Shape: []int64{1, 16}, Data: x}}
	want1, want2 := v1.Forward(x), v2.Forward(x)
	var stop atomic.Bool
	var runs, failures atomic.Int64
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for !stop.Load() {
				out, err := m.Run(in)
				runs.Add(1)
				if err != nil {
					failures.Add(1)
					continue
				}
				d1 := math.Abs(float64(out[0].Data[0] - want1[0]))
				d2 := math.Abs(float64(out[0].Data[0] - want2[0]))
				if d1 > 1e-4 && d2 > 1e-4 {
					failures.Add(1) // neither version
				}
			}
		})
	}
	if err := m.Swap([]byte("not a model")); err == nil {
		t.Error("a corrupt version was swapped in")
	}
	var old []any
	for i := range 20 {
		old = append(old, models.Version(m))
		next := b2
		if i%2 == 1 {
			next = b1
		}
		if err := m.Swap(next); err != nil {
			t.Fatal(err)
		}
		time.Sleep(2 * time.Millisecond)
	}
	stop.Store(true)
	wg.Wait()
	if failures.Load() != 0 || runs.Load() == 0 {
		t.Fatalf("%d of %d runs failed during swaps", failures.Load(), runs.Load())
	}
	for i, v := range old {
		if !models.Destroyed(v) {
			t.Errorf("version %d was replaced but not destroyed", i)
		}
	}
	if ok, failed := m.Reloads(); ok != 20 || failed != 1 {
		t.Errorf("swaps ok=%d failed=%d, want 20 and 1", ok, failed)
	}
	out, err := m.Run(in)
	if err != nil {
		t.Fatal(err)
	}
	near(t, "after the last swap (v1)", out[0].Data, want1, 1e-4)
	last := models.Version(m)
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if !models.Destroyed(last) {
		t.Error("Close left the current version open")
	}
	if err := m.Swap(b2); err == nil {
		t.Error("swap after Close succeeded")
	}
	if _, err := models.OpenBytes("pinned", b1, models.LoadOptions{SHA256: "00"}); err == nil {
		t.Error("OpenBytes accepted a sha256 pin")
	}
}
