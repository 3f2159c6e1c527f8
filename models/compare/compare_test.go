package compare_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/edgeflow/edgeflow/models"
	"github.com/edgeflow/edgeflow/models/compare"
	"github.com/edgeflow/edgeflow/models/modeltest"
)

func vectors(m *modeltest.MLP, n int) []compare.Sample {
	out := make([]compare.Sample, n)
	for i := range out {
		out[i] = compare.VectorSample(fmt.Sprintf("v%d", i), m.Input(uint64(i)))
	}
	return out
}

func TestFilesClassify(t *testing.T) {
	modeltest.RequireRuntime(t)
	dir := t.TempDir()
	ref := &modeltest.MLP{In: 8, Hidden: 16, Out: 4, Seed: 1}
	a := ref.Write(t, dir, "a.onnx")
	same := (&modeltest.MLP{In: 8, Hidden: 16, Out: 4, Seed: 1}).Write(t, dir, "same.onnx")
	other := (&modeltest.MLP{In: 8, Hidden: 16, Out: 4, Seed: 7}).Write(t, dir, "other.onnx")
	samples := vectors(ref, 40)

	info, err := models.Inspect(a)
	if err != nil {
		t.Fatal(err)
	}
	if task := compare.Pick(info, compare.Classify); task != compare.Classify {
		t.Fatalf("Pick for a [N,4] output = %s, want classify", task.Name())
	}
	res, err := compare.Files(a, same, samples, compare.Options{Task: compare.Classify})
	if err != nil {
		t.Fatal(err)
	}
	if res.Task != "classify" || res.Agreement != 1 || res.RMSE != 0 || res.Samples != 40 || res.SizeRatio != 1 {
		t.Errorf("a model against itself: %+v", res)
	}
	res, err = compare.Files(a, other, samples, compare.Options{Task: compare.Classify})
	if err != nil {
		t.Fatal(err)
	}
	if res.Agreement >= 1 || res.RMSE == 0 || res.MaxAbs < res.RMSE {
		t.Errorf("two different models agree: top-1 %.2f, RMSE %g, max abs %g", res.Agreement, res.RMSE, res.MaxAbs)
	}
	// No task: size, speed and error only.
	res, err = compare.Files(a, other, samples[:3], compare.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Task != "none" || res.Agreement != 0 || res.RMSE == 0 || res.A.LatencyP50 <= 0 {
		t.Errorf("no task: %+v", res)
	}
}

// failing is a task whose verdict refuses the second sample.
type failing struct{}

func (failing) Name() string                 { return "failing" }
func (failing) Fits(*models.Info) bool       { return false }
func (failing) NewVerdict() compare.Verdict  { return &failingVerdict{} }
func (v *failingVerdict) Agreement() float64 { return 0 }

type failingVerdict struct{ n int }

var errRefused = errors.New("refused")

func (v *failingVerdict) Add(s compare.Sample, a, b compare.Run) error {
	if len(a.Out) != 1 || len(b.Out) != 1 || len(a.In) != 1 {
		return fmt.Errorf("sample %s: runs %d/%d outputs", s.Name, len(a.Out), len(b.Out))
	}
	if v.n++; v.n == 2 {
		return fmt.Errorf("sample %s: %w", s.Name, errRefused)
	}
	return nil
}

func TestFilesTaskErrors(t *testing.T) {
	modeltest.RequireRuntime(t)
	dir := t.TempDir()
	m := &modeltest.MLP{In: 8, Hidden: 16, Out: 4, Seed: 1}
	a := m.Write(t, dir, "a.onnx")
	if _, err := compare.Files(a, a, vectors(m, 3), compare.Options{Task: failing{}}); !errors.Is(err, errRefused) {
		t.Errorf("a verdict's error was not returned: %v", err)
	}
	if _, err := compare.Files(a, a, nil, compare.Options{}); err == nil {
		t.Error("no samples accepted")
	}
	info, err := models.Inspect(a)
	if err != nil {
		t.Fatal(err)
	}
	if task := compare.Pick(info, failing{}); task != compare.None {
		t.Errorf("Pick with no fitting task = %s, want none", task.Name())
	}
}

func TestSpearman(t *testing.T) {
	if r := compare.Spearman([]float64{1, 2, 3, 4}, []float64{10, 20, 30, 40}); r != 1 {
		t.Errorf("same order: %v", r)
	}
	if r := compare.Spearman([]float64{1, 2, 3, 4}, []float64{4, 3, 2, 1}); r != -1 {
		t.Errorf("reversed: %v", r)
	}
	if r := compare.Spearman([]float64{1, 1, 1}, []float64{2, 2, 2}); r != 1 {
		t.Errorf("both constant: %v", r)
	}
}
