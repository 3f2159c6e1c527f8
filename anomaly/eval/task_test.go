package eval_test

import (
	"fmt"
	"testing"

	"github.com/edgeflow/edgeflow/anomaly/eval"
	"github.com/edgeflow/edgeflow/models"
	"github.com/edgeflow/edgeflow/models/compare"
	"github.com/edgeflow/edgeflow/models/modeltest"
)

// TestReconstruction compares autoencoder-shaped models (output shaped as
// the input) by the rank correlation of their reconstruction errors.
func TestReconstruction(t *testing.T) {
	modeltest.RequireRuntime(t)
	dir := t.TempDir()
	ae := &modeltest.MLP{In: 16, Hidden: 8, Out: 16, Seed: 3}
	a := ae.Write(t, dir, "a.onnx")
	other := (&modeltest.MLP{In: 16, Hidden: 8, Out: 16, Seed: 4}).Write(t, dir, "b.onnx")
	samples := make([]compare.Sample, 30)
	for i := range samples {
		samples[i] = compare.VectorSample(fmt.Sprint(i), ae.Input(uint64(i)))
	}
	info, err := models.Inspect(a)
	if err != nil {
		t.Fatal(err)
	}
	if task := compare.Pick(info, eval.Reconstruction, compare.Classify); task != eval.Reconstruction {
		t.Fatalf("Pick for a [N,16]→[N,16] model = %s, want anomaly", task.Name())
	}
	res, err := compare.Files(a, a, samples, compare.Options{Task: eval.Reconstruction})
	if err != nil {
		t.Fatal(err)
	}
	if res.Task != "anomaly" || res.Agreement != 1 {
		t.Errorf("a model against itself: task %s, rank correlation %v", res.Task, res.Agreement)
	}
	res, err = compare.Files(a, other, samples, compare.Options{Task: eval.Reconstruction})
	if err != nil {
		t.Fatal(err)
	}
	if res.Agreement >= 0.99 || res.Agreement < -1 {
		t.Errorf("unrelated models: rank correlation %v, want well below 1", res.Agreement)
	}
}
