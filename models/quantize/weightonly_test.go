package quantize_test

import (
	"math"
	"testing"

	"github.com/edgeflow/edgeflow/models"
	"github.com/edgeflow/edgeflow/models/compare"
	"github.com/edgeflow/edgeflow/models/modeltest"
	"github.com/edgeflow/edgeflow/models/quantize"
)

// TestWeightOnlyFolding measures a weight-only model against fp32 with and
// without the session entry that lets ONNX Runtime fold DequantizeLinear
// into float weights at load time.
func TestWeightOnlyFolding(t *testing.T) {
	modeltest.RequireRuntime(t)
	const width, batch = 256, 64
	m := sensorMLP(width, 1024, 1024, 7)
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
	test := sensorData(8*batch, width, 99)
	var samples []compare.Sample
	for i := 0; i < len(test); i += batch {
		data := make([]float32, 0, batch*width)
		for _, v := range test[i : i+batch] {
			data = append(data, v...)
		}
		samples = append(samples, compare.Sample{Name: "batch", Inputs: []models.Tensor{{Shape: []int64{batch, width}, Data: data}}})
	}
	speed := map[bool]float64{}
	for _, fold := range []bool{false, true} {
		opts := compare.Options{Task: compare.None, Repeat: 5}
		if fold {
			opts.Runtime.ConfigEntries = map[string]string{"session.disable_quant_qdq": "1"}
		}
		res, err := compare.Files(a, b, samples, opts)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("fold %v: fp32 p50 %.3f ms, weight-only p50 %.3f ms, speed %.2fx, rel RMSE %.3f%%, size %.1f%%",
			fold, res.A.LatencyP50, res.B.LatencyP50, res.Speedup, 100*res.RelRMSE, 100*res.SizeRatio)
		if res.RelRMSE > 0.02 || math.IsNaN(res.RelRMSE) {
			t.Errorf("relative RMS error %.2f%%", 100*res.RelRMSE)
		}
		if res.SizeRatio > 0.27 {
			t.Errorf("weight-only file is %.1f%% of fp32", 100*res.SizeRatio)
		}
		speed[fold] = res.Speedup
	}
	// Folded, the maths is fp32's: same speed (0.85 leaves room for noise
	// on a shared machine).
	if speed[true] < 0.85 {
		t.Errorf("folded weight-only model runs at %.2fx fp32's speed, want about 1x", speed[true])
	}
	t.Logf("speed with folding / without: %.2f", speed[true]/speed[false])
}
