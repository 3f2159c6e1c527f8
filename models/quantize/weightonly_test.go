package quantize_test

import (
	"math"
	"testing"

	"github.com/edgeflow/edgeflow/models/compare"
	"github.com/edgeflow/edgeflow/models/modeltest"
	"github.com/edgeflow/edgeflow/models/quantize"
)

// foldEntries is the session entry that lets ONNX Runtime fold
// DequantizeLinear into float weights at load time.
var foldEntries = map[string]string{"session.disable_quant_qdq": "1"}

// TestWeightOnlyFolding checks what ORT makes of a weight-only model with
// and without folding, and its error and size against fp32. The speed of
// both against fp32 is BenchmarkWeightOnlyFolding's (BENCHMARKS.md).
func TestWeightOnlyFolding(t *testing.T) {
	modeltest.RequireRuntime(t)
	m := sensorMLP(mlpWidth, 1024, 1024, 7)
	w, rep, err := quantize.WeightOnly(m, quantize.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Log(rep)
	if ops := optimizedOps(t, w); ops["DequantizeLinear"] != 3 {
		t.Errorf("without folding ORT should keep the 3 weight DequantizeLinear nodes: %v", ops)
	}
	if ops := optimizedOps(t, w, "session.disable_quant_qdq", "1"); ops["DequantizeLinear"] != 0 || ops["Gemm"]+ops["FusedGemm"] != 3 {
		t.Errorf("with session.disable_quant_qdq=1 ORT should fold every DequantizeLinear: %v", ops)
	}
	a, b := writeModel(t, m, "fp32.onnx"), writeModel(t, w, "w8.onnx")
	for _, fold := range []bool{false, true} {
		opts := compare.Options{Task: compare.None}
		if fold {
			opts.Runtime.ConfigEntries = foldEntries
		}
		res, err := compare.Files(a, b, mlpBatches(2), opts)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("fold %v: rel RMSE %.3f%%, size %.1f%%", fold, 100*res.RelRMSE, 100*res.SizeRatio)
		if res.RelRMSE > 0.02 || res.RelRMSE == 0 || math.IsNaN(res.RelRMSE) {
			t.Errorf("fold %v: relative RMS error %.2f%%, want (0, 2%%]", fold, 100*res.RelRMSE)
		}
		if res.SizeRatio > 0.27 {
			t.Errorf("weight-only file is %.1f%% of fp32", 100*res.SizeRatio)
		}
	}
}

// BenchmarkWeightOnlyFolding measures the weight-only model against fp32,
// interleaved, without and with folding: folded, the maths is fp32's, so
// its speed should be about 1x.
func BenchmarkWeightOnlyFolding(b *testing.B) {
	modeltest.RequireRuntime(b)
	m := sensorMLP(mlpWidth, 1024, 1024, 7)
	w, _, err := quantize.WeightOnly(m, quantize.Options{})
	if err != nil {
		b.Fatal(err)
	}
	a, c := writeModel(b, m, "fp32.onnx"), writeModel(b, w, "w8.onnx")
	samples := mlpBatches(8)
	for _, fold := range []bool{false, true} {
		name := "fold=off"
		opts := compare.Options{Task: compare.None, Repeat: 5}
		if fold {
			name, opts.Runtime.ConfigEntries = "fold=on", foldEntries
		}
		b.Run(name, func(b *testing.B) {
			var res *compare.Result
			for b.Loop() {
				if res, err = compare.Files(a, c, samples, opts); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(res.Speedup, "speed-vs-fp32")
		})
	}
}
