package quantize_test

import (
	"math"
	"testing"

	"github.com/edgeflow/edgeflow/models"
	"github.com/edgeflow/edgeflow/models/compare"
	"github.com/edgeflow/edgeflow/models/modeltest"
	"github.com/edgeflow/edgeflow/models/quantize"
)

// TestSensorMLPInt8Speed quantises a Go-built sensor MLP and measures fp32
// and int8 side by side in one run: int8 must be at least 2x faster with a
// relative RMS error under 3%, and ORT must have fused every Gemm.
func TestSensorMLPInt8Speed(t *testing.T) {
	modeltest.RequireRuntime(t)
	const width, batch = 256, 64
	m := sensorMLP(width, 1024, 1024, 7)
	calib := sensorData(256, width, 1)
	q, rep, err := quantize.Static(m, quantize.FromVectors(calib), quantize.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Log(rep)
	if ops := optimizedOps(t, q); ops["QGemm"] != 3 {
		t.Errorf("ORT fused %d of 3 Gemms into QGemm: %v", ops["QGemm"], ops)
	}
	a, b := writeModel(t, m, "fp32.onnx"), writeModel(t, q, "int8.onnx")
	// Batches of 64 windows, as the onnx stage's micro-batcher sends them.
	test := sensorData(16*batch, width, 99)
	var samples []compare.Sample
	for i := 0; i < len(test); i += batch {
		data := make([]float32, 0, batch*width)
		for _, v := range test[i : i+batch] {
			data = append(data, v...)
		}
		samples = append(samples, compare.Sample{Name: "batch", Inputs: []models.Tensor{{Shape: []int64{batch, width}, Data: data}}})
	}
	res, err := compare.Files(a, b, samples, compare.Options{Task: compare.None, Repeat: 5})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("fp32 p50 %.3f ms, int8 p50 %.3f ms, speed-up %.2fx, rel RMSE %.3f%%, size %.1f%%",
		res.A.LatencyP50, res.B.LatencyP50, res.Speedup, 100*res.RelRMSE, 100*res.SizeRatio)
	if res.Speedup < 2 {
		t.Errorf("int8 is %.2fx as fast as fp32, want >= 2x", res.Speedup)
	}
	if res.RelRMSE >= 0.03 || math.IsNaN(res.RelRMSE) {
		t.Errorf("relative RMS error %.2f%%, want < 3%%", 100*res.RelRMSE)
	}
}
