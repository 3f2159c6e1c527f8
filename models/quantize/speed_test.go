package quantize_test

import (
	"math"
	"testing"

	"github.com/edgeflow/edgeflow/models"
	"github.com/edgeflow/edgeflow/models/compare"
	"github.com/edgeflow/edgeflow/models/modeltest"
	"github.com/edgeflow/edgeflow/models/onnxpb"
	"github.com/edgeflow/edgeflow/models/quantize"
)

// The sensor MLP of the speed comparisons: 256-1024-1024-256, batches of
// 64 windows, as the onnx stage's micro-batcher sends them.
const mlpWidth, mlpBatch = 256, 64

// sensorMLPInt8 quantises the big sensor MLP statically.
func sensorMLPInt8(tb testing.TB) (fp32, int8 *onnxpb.ModelProto, rep *quantize.Report) {
	tb.Helper()
	modeltest.RequireRuntime(tb)
	m := sensorMLP(mlpWidth, 1024, 1024, 7)
	q, rep, err := quantize.Static(m, quantize.FromVectors(sensorData(256, mlpWidth, 1)), quantize.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	return m, q, rep
}

// mlpBatches makes n batches of mlpBatch sensor windows.
func mlpBatches(n int) []compare.Sample {
	test := sensorData(n*mlpBatch, mlpWidth, 99)
	var samples []compare.Sample
	for i := 0; i < len(test); i += mlpBatch {
		data := make([]float32, 0, mlpBatch*mlpWidth)
		for _, v := range test[i : i+mlpBatch] {
			data = append(data, v...)
		}
		samples = append(samples, compare.Sample{Name: "batch", Inputs: []models.Tensor{{Shape: []int64{mlpBatch, mlpWidth}, Data: data}}})
	}
	return samples
}

// TestSensorMLPInt8 quantises a Go-built sensor MLP: ORT must fuse every
// Gemm, and the relative RMS error must stay under 3%. Its speed against
// fp32 is BenchmarkSensorMLPInt8's (BENCHMARKS.md).
func TestSensorMLPInt8(t *testing.T) {
	m, q, rep := sensorMLPInt8(t)
	t.Log(rep)
	if ops := optimizedOps(t, q); ops["QGemm"] != 3 {
		t.Errorf("ORT fused %d of 3 Gemms into QGemm: %v", ops["QGemm"], ops)
	}
	res, err := compare.Files(writeModel(t, m, "fp32.onnx"), writeModel(t, q, "int8.onnx"), mlpBatches(4), compare.Options{Task: compare.None})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("rel RMSE %.3f%%, size %.1f%%", 100*res.RelRMSE, 100*res.SizeRatio)
	if res.RelRMSE >= 0.03 || res.RelRMSE == 0 || math.IsNaN(res.RelRMSE) {
		t.Errorf("relative RMS error %.2f%%, want (0, 3%%)", 100*res.RelRMSE)
	}
}

// BenchmarkSensorMLPInt8 measures fp32 and int8 side by side (interleaved)
// and reports int8's speed-up (target: >= 2x) and p50 latencies.
func BenchmarkSensorMLPInt8(b *testing.B) {
	m, q, _ := sensorMLPInt8(b)
	a, c := writeModel(b, m, "fp32.onnx"), writeModel(b, q, "int8.onnx")
	samples := mlpBatches(16)
	var res *compare.Result
	for b.Loop() {
		var err error
		if res, err = compare.Files(a, c, samples, compare.Options{Task: compare.None, Repeat: 5}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(res.Speedup, "speedup")
	b.ReportMetric(res.A.LatencyP50, "fp32-p50-ms")
	b.ReportMetric(res.B.LatencyP50, "int8-p50-ms")
}
