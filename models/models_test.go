package models_test

import (
	"bufio"
	"context"
	"errors"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/edgeflow/edgeflow/models"
	"github.com/edgeflow/edgeflow/models/modeltest"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func newMLP() *modeltest.MLP { return &modeltest.MLP{In: 16, Hidden: 32, Out: 4, Seed: 1} }

func openMLP(t *testing.T, mlp *modeltest.MLP, opts models.LoadOptions) *models.Model {
	t.Helper()
	modeltest.RequireRuntime(t)
	path := mlp.Write(t, t.TempDir(), "mlp.onnx")
	m, err := models.Open(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

func near(t *testing.T, what string, got, want []float32, tol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
	}
	for i := range got {
		if d := math.Abs(float64(got[i] - want[i])); d > tol || math.IsNaN(float64(got[i])) {
			t.Fatalf("%s[%d] = %v, want %v (diff %g > %g)", what, i, got[i], want[i], d, tol)
		}
	}
}

func TestInspectMLP(t *testing.T) {
	m := openMLP(t, newMLP(), models.LoadOptions{})
	info, err := m.Info()
	if err != nil {
		t.Fatal(err)
	}
	if info.Opset != 13 || info.IRVersion != 7 || info.Producer != "edgeflow-modeltest" {
		t.Errorf("opset %d ir %d producer %q", info.Opset, info.IRVersion, info.Producer)
	}
	for op, n := range map[string]int{"Gemm": 1, "Relu": 1, "MatMul": 1, "Add": 1} {
		if info.Operators[op] != n {
			t.Errorf("operators[%s] = %d, want %d (%v)", op, info.Operators[op], n, info.Operators)
		}
	}
	if info.Parameters != 16*32+32+32*4+4 {
		t.Errorf("parameters = %d", info.Parameters)
	}
	in, ok := info.Input("x")
	if !ok || in.ShapeString() != "[N,16]" || !in.DynamicBatch() || !in.Float32() {
		t.Errorf("input x = %+v", in)
	}
	out, ok := info.Output("y")
	if !ok || out.ShapeString() != "[N,4]" || out.Type != "float32" {
		t.Errorf("output y = %+v", out)
	}
}

func TestBatchedEqualsUnbatched(t *testing.T) {
	mlp := newMLP()
	m := openMLP(t, mlp, models.LoadOptions{Options: models.Options{IntraOpThreads: 1}})
	const n = 37
	batch := make([]float32, 0, n*mlp.In)
	for i := range n {
		batch = append(batch, mlp.Input(uint64(i))...)
	}
	out, err := m.Run([]models.Tensor{{Shape: []int64{n, int64(mlp.In)}, Data: batch}})
	if err != nil {
		t.Fatal(err)
	}
	if got := out[0].Shape; len(got) != 2 || got[0] != n || got[1] != int64(mlp.Out) {
		t.Fatalf("batched output shape %v", got)
	}
	for i := range n {
		x := mlp.Input(uint64(i))
		one, err := m.Run([]models.Tensor{{Shape: []int64{1, int64(mlp.In)}, Data: x}})
		if err != nil {
			t.Fatal(err)
		}
		near(t, "batched vs unbatched", out[0].Data[i*mlp.Out:(i+1)*mlp.Out], one[0].Data, 1e-5)
		near(t, "ORT vs Go reference", one[0].Data, mlp.Forward(x), 1e-4)
	}
}

// TestRunAllocations guards the batch-1 path: with its tensors reused and
// bound, a run allocates the result slice and each output's data and shape,
// which the caller owns, and nothing else. Outputs must survive later runs.
func TestRunAllocations(t *testing.T) {
	mlp := newMLP()
	m := openMLP(t, mlp, models.LoadOptions{Options: models.Options{IntraOpThreads: 1}})
	a, b := mlp.Input(1), mlp.Input(2)
	err := m.Use(func(s *models.Session) error {
		in := []models.Tensor{{Shape: []int64{1, int64(mlp.In)}, Data: a}}
		first, err := s.Run(in)
		if err != nil {
			return err
		}
		allocs := testing.AllocsPerRun(200, func() {
			if _, err := s.Run(in); err != nil {
				t.Fatal(err)
			}
		})
		// The race detector's instrumentation allocates on its own.
		if !raceEnabled && allocs > 3 {
			t.Errorf("Session.Run at batch 1 allocates %v times, want at most 3 (results, data, shape)", allocs)
		}
		// RunInto with room for the results spares their slice.
		var room [1]models.Tensor
		allocs = testing.AllocsPerRun(200, func() {
			if out, err := s.RunInto(in, room[:0]); err != nil || &out[0] != &room[0] {
				t.Fatalf("RunInto: %v, results not in the given array", err)
			}
		})
		if !raceEnabled && allocs > 2 {
			t.Errorf("Session.RunInto at batch 1 allocates %v times, want at most 2 (data, shape)", allocs)
		}
		second, err := s.Run([]models.Tensor{{Shape: []int64{1, int64(mlp.In)}, Data: b}})
		if err != nil {
			return err
		}
		near(t, "first output after later runs", first[0].Data, mlp.Forward(a), 1e-4)
		near(t, "second output", second[0].Data, mlp.Forward(b), 1e-4)
		if got := first[0].Shape; len(got) != 2 || got[0] != 1 || got[1] != int64(mlp.Out) {
			t.Errorf("output shape %v, want [1 %d]", got, mlp.Out)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestRunFuncLends: RunFunc hands over a small output in the session's
// reused buffer (no copy, no allocation; valid only during the call) and
// a large one as new memory the caller may keep, and says which is which.
func TestRunFuncLends(t *testing.T) {
	for _, c := range []struct {
		name string
		mlp  *modeltest.MLP
		lent bool
	}{
		{"small output", newMLP(), true},
		{"large output", &modeltest.MLP{In: 4, Hidden: 4, Out: 20000, Seed: 5}, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			m := openMLP(t, c.mlp, models.LoadOptions{Options: models.Options{IntraOpThreads: 1}})
			a, b := c.mlp.Input(1), c.mlp.Input(2)
			in := func(x []float32) []models.Tensor {
				return []models.Tensor{{Shape: []int64{1, int64(c.mlp.In)}, Data: x}}
			}
			err := m.Use(func(s *models.Session) error {
				var kept []float32
				var ptrs []*float32
				for _, x := range [][]float32{a, b} {
					err := s.RunFunc(in(x), func(outs []models.Output) {
						o := outs[0]
						if o.Lent != c.lent {
							t.Errorf("Lent = %v, want %v", o.Lent, c.lent)
						}
						near(t, "output", o.Data, c.mlp.Forward(x), 1e-4)
						if !slices.Equal(o.Shape, []int64{1, int64(c.mlp.Out)}) {
							t.Errorf("shape %v, want [1 %d]", o.Shape, c.mlp.Out)
						}
						ptrs = append(ptrs, &o.Data[0])
						if kept == nil {
							kept = o.Data
						}
					})
					if err != nil {
						return err
					}
				}
				if c.lent {
					if ptrs[0] != ptrs[1] {
						t.Errorf("a small output came in new memory, want the reused buffer")
					}
					ins := in(a)
					allocs := testing.AllocsPerRun(100, func() {
						if err := s.RunFunc(ins, func([]models.Output) {}); err != nil {
							t.Fatal(err)
						}
					})
					if !raceEnabled && allocs > 0 {
						t.Errorf("RunFunc at batch 1 allocates %v times, want none", allocs)
					}
					return nil
				}
				// Not lent: the first run's output is the caller's and outlives the second.
				near(t, "first output kept after a later run", kept, c.mlp.Forward(a), 1e-4)
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestConcurrentRun(t *testing.T) {
	mlp := newMLP()
	m := openMLP(t, mlp, models.LoadOptions{Options: models.Options{IntraOpThreads: 1}})
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := range 8 {
		wg.Go(func() {
			for i := range 100 {
				x := mlp.Input(uint64(g*1000 + i))
				out, err := m.Run([]models.Tensor{{Shape: []int64{1, int64(mlp.In)}, Data: x}})
				if err != nil {
					errs <- err
					return
				}
				want := mlp.Forward(x)
				for k := range want {
					if math.Abs(float64(out[0].Data[k]-want[k])) > 1e-4 {
						errs <- errors.New("wrong output under concurrency")
						return
					}
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

func TestShapeErrors(t *testing.T) {
	m := openMLP(t, newMLP(), models.LoadOptions{})
	for name, in := range map[string]models.Tensor{
		"too few values": {Shape: []int64{1, 16}, Data: make([]float32, 15)},
		"wrong width":    {Shape: []int64{1, 15}, Data: make([]float32, 15)},
		"wrong rank":     {Shape: []int64{16}, Data: make([]float32, 16)},
		"zero batch":     {Shape: []int64{0, 16}, Data: nil},
	} {
		_, err := m.Run([]models.Tensor{in})
		var se *models.ShapeError
		if !errors.As(err, &se) {
			t.Errorf("%s: err = %v, want a *ShapeError", name, err)
		}
	}
	if _, err := m.Run(nil); err == nil {
		t.Error("no inputs: want an error")
	}
}

func TestSHA256(t *testing.T) {
	modeltest.RequireRuntime(t)
	mlp := newMLP()
	path := mlp.Write(t, t.TempDir(), "mlp.onnx")
	info, err := models.Inspect(path)
	if err != nil {
		t.Fatal(err)
	}
	m, err := models.Open(path, models.LoadOptions{SHA256: strings.ToUpper(info.SHA256)})
	if err != nil {
		t.Fatalf("matching sha256 refused: %v", err)
	}
	m.Close()
	_, err = models.Open(path, models.LoadOptions{SHA256: strings.Repeat("0", 64)})
	if err == nil || !strings.Contains(err.Error(), "sha256") {
		t.Fatalf("mismatching sha256: err = %v", err)
	}
	if _, err := m.Run(nil); !errors.Is(err, models.ErrClosed) {
		t.Fatalf("run after close: %v", err)
	}
}

func TestOptionsRejected(t *testing.T) {
	for _, o := range []models.Options{{Optimization: "max"}, {ExecutionMode: "async"}, {IntraOpThreads: -1}} {
		if err := o.Validate(); err == nil {
			t.Errorf("%+v: want an error", o)
		}
	}
	m := openMLP(t, newMLP(), models.LoadOptions{Options: models.Options{
		IntraOpThreads: 1, InterOpThreads: 1, Optimization: "basic", ExecutionMode: "parallel", Spinning: true}})
	if _, err := m.Run([]models.Tensor{{Shape: []int64{1, 16}, Data: make([]float32, 16)}}); err != nil {
		t.Fatal(err)
	}
}

func TestRuntimeNotFound(t *testing.T) {
	t.Setenv(models.LibraryEnv, filepath.Join(t.TempDir(), "missing.so"))
	if _, err := models.FindLibrary(""); err == nil || !strings.Contains(err.Error(), models.LibraryEnv) {
		t.Fatalf("FindLibrary with a missing %s: %v", models.LibraryEnv, err)
	}
	if !strings.Contains(models.ErrNoRuntime.Error(), "make deps") {
		t.Fatal("ErrNoRuntime should say how to get the library")
	}
}

// rss returns the resident set size in bytes.
func rss(t *testing.T) int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		t.Skip("no /proc/self/status")
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if rest, ok := strings.CutPrefix(s.Text(), "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.Fields(rest)[0], 10, 64)
			return kb * 1024
		}
	}
	t.Skip("no VmRSS")
	return 0
}

// TestMemoryFlat runs the model many times and checks that neither the Go
// heap nor the process's resident memory grows with the number of runs, which
// it would if ORT values (C memory) leaked.
func TestMemoryFlat(t *testing.T) {
	mlp := &modeltest.MLP{In: 64, Hidden: 256, Out: 64, Seed: 3}
	m := openMLP(t, mlp, models.LoadOptions{Options: models.Options{IntraOpThreads: 1}})
	runs := 100_000
	if testing.Short() || raceEnabled {
		runs = 30_000
	}
	x := make([]float32, 8*mlp.In)
	in := []models.Tensor{{Shape: []int64{8, int64(mlp.In)}, Data: x}}
	run := func(n int) {
		for range n {
			if _, err := m.Run(in); err != nil {
				t.Fatal(err)
			}
		}
	}
	heap := func() uint64 {
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.HeapAlloc
	}
	run(runs / 10) // warm up ORT's arena and the Go heap
	rss0, heap0 := rss(t), heap()
	run(runs)
	rss1, heap1 := rss(t), heap()
	t.Logf("%d runs: RSS %d -> %d KiB, Go heap %d -> %d KiB", runs, rss0/1024, rss1/1024, heap0/1024, heap1/1024)
	// Each run allocates ~2 KiB of tensors; a leak of one of them per run
	// would add >= 60 MiB over 30k runs. Allow 10% (+4 MiB of noise).
	if float64(rss1) > 1.1*float64(rss0)+4<<20 {
		t.Errorf("RSS grew from %d to %d KiB over %d runs", rss0/1024, rss1/1024, runs)
	}
	if float64(heap1) > 1.1*float64(heap0)+4<<20 {
		t.Errorf("Go heap grew from %d to %d KiB over %d runs", heap0/1024, heap1/1024, runs)
	}
}

// TestHotSwapUnderLoad reloads the model while goroutines run it: every
// run succeeds, and after the swap the outputs are the new model's.
func TestHotSwapUnderLoad(t *testing.T) {
	modeltest.RequireRuntime(t)
	dir := t.TempDir()
	v1 := &modeltest.MLP{In: 16, Hidden: 32, Out: 4, Seed: 1, Scale: 1}
	v2 := &modeltest.MLP{In: 16, Hidden: 32, Out: 4, Seed: 1, Scale: 2}
	path := v1.Write(t, dir, "mlp.onnx")
	m, err := models.Open(path, models.LoadOptions{Options: models.Options{IntraOpThreads: 1}})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()

	x := v1.Input(9)
	in := []models.Tensor{{Shape: []int64{1, 16}, Data: x}}
	want1, want2 := v1.Forward(x), v2.Forward(x)
	var stop atomic.Bool
	var runs, fromV2, failures atomic.Int64
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for !stop.Load() {
				out, err := m.Run(in)
				runs.Add(1)
				switch {
				case err != nil:
					failures.Add(1)
				case math.Abs(float64(out[0].Data[0]-want2[0])) < 1e-4:
					fromV2.Add(1)
				case math.Abs(float64(out[0].Data[0]-want1[0])) > 1e-4:
					failures.Add(1) // neither version: a torn read
				}
			}
		})
	}
	time.Sleep(50 * time.Millisecond)
	// A bad file is rejected and v1 keeps serving.
	if err := os.WriteFile(path, []byte("not a model"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := m.Reload(); err == nil {
		t.Error("reload of a corrupt file succeeded")
	}
	time.Sleep(20 * time.Millisecond)
	if fromV2.Load() != 0 {
		t.Error("outputs changed after a rejected reload")
	}
	v2.Write(t, dir, "mlp.onnx")
	for range 5 { // swap repeatedly under load
		if err := m.Reload(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond)
	stop.Store(true)
	wg.Wait()
	t.Logf("%d runs, %d from v2, %d failures", runs.Load(), fromV2.Load(), failures.Load())
	if failures.Load() != 0 {
		t.Fatalf("%d runs failed during hot swap", failures.Load())
	}
	if fromV2.Load() == 0 {
		t.Fatal("no run saw the new model")
	}
	out, err := m.Run(in)
	if err != nil {
		t.Fatal(err)
	}
	near(t, "after swap", out[0].Data, want2, 1e-4)
	if ok, failed := m.Reloads(); ok != 5 || failed != 1 {
		t.Errorf("reloads ok=%d failed=%d, want 5 and 1", ok, failed)
	}
}

func TestWatchReloadsChangedFile(t *testing.T) {
	modeltest.RequireRuntime(t)
	dir := t.TempDir()
	v1 := &modeltest.MLP{In: 8, Hidden: 8, Out: 2, Seed: 5, Scale: 1}
	v2 := &modeltest.MLP{In: 8, Hidden: 8, Out: 2, Seed: 5, Scale: 3}
	path := v1.Write(t, dir, "m.onnx")
	m, err := models.Open(path, models.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); m.Watch(ctx, 10*time.Millisecond) }()
	defer func() { cancel(); <-done }()

	// Write the new version beside it and rename, as a deploy would.
	tmp := v2.Write(t, dir, "m.onnx.new")
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		if ok, _ := m.Reloads(); ok == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("watch did not reload the changed file")
		}
		time.Sleep(10 * time.Millisecond)
	}
	x := v1.Input(1)
	out, err := m.Run([]models.Tensor{{Shape: []int64{1, 8}, Data: x}})
	if err != nil {
		t.Fatal(err)
	}
	near(t, "watched reload", out[0].Data, v2.Forward(x), 1e-4)
}
