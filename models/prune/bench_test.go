package prune_test

import (
	"testing"

	"github.com/edgeflow/edgeflow/models/compare"
	"github.com/edgeflow/edgeflow/models/modeltest"
	"github.com/edgeflow/edgeflow/models/onnxpb"
	"github.com/edgeflow/edgeflow/models/prune"
)

// BenchmarkStructured measures 50% structured pruning against the original,
// interleaved, on the models of TestStructuredMLP and TestStructuredConv1D
// (targets in BENCHMARKS.md: >= 1.3x and >= 1.5x).
func BenchmarkStructured(b *testing.B) {
	modeltest.RequireRuntime(b)
	for _, c := range []struct {
		name    string
		model   *onnxpb.ModelProto
		samples []compare.Sample
		repeat  int
	}{
		{"mlp-64-2048-32", mlp(64, 2048, 32, 1), batches(12, []int64{256, 64}, 2), 5},
		{"conv1d-1-64-128", conv1d(1024, 64, 128, 8, 3), batches(8, []int64{16, 1, 1024}, 4), 3},
	} {
		b.Run(c.name, func(b *testing.B) {
			p, _, err := prune.Structured(c.model, prune.Options{Amount: 0.5})
			if err != nil {
				b.Fatal(err)
			}
			a, q := save(b, c.model, "a.onnx"), save(b, p, "b.onnx")
			var res *compare.Result
			for b.Loop() {
				if res, err = compare.Files(a, q, c.samples, compare.Options{Task: compare.None, Repeat: c.repeat}); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(res.Speedup, "speedup")
		})
	}
}
