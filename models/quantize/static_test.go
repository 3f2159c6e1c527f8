package quantize_test

import (
	"strings"
	"testing"

	"github.com/edgeflow/edgeflow/models"
	"github.com/edgeflow/edgeflow/models/compare"
	"github.com/edgeflow/edgeflow/models/modeltest"
	"github.com/edgeflow/edgeflow/models/onnxpb"
	"github.com/edgeflow/edgeflow/models/quantize"
)

// TestStaticMLPFuses: static int8 of a 3-Gemm sensor MLP quantises every
// Gemm (weights and biases) and its activations, and ONNX Runtime fuses
// each Gemm, with its Relu, into a QGemm; the output stays within 3% of
// fp32.
func TestStaticMLPFuses(t *testing.T) {
	modeltest.RequireRuntime(t)
	m := sensorMLP(64, 128, 64, 1)
	q, rep, err := quantize.Static(m, quantize.FromVectors(sensorData(64, 64, 2)), quantize.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Log(rep)
	if rep.Quantized["Gemm"] != 3 || rep.Activations != 3 || rep.Weights != 6 || rep.Samples != 64 {
		t.Errorf("report %v: want 3 Gemms, 3 activations, 6 weights (3 matrices, 3 biases), 64 samples", rep)
	}
	checkSize(t, rep, 0.35)
	ops := optimizedOps(t, q)
	t.Log(ops)
	if ops["QGemm"] != 3 || ops["Gemm"]+ops["FusedGemm"]+ops["Relu"] != 0 {
		t.Errorf("ORT ran %v, want 3 QGemm and no float Gemm or Relu", ops)
	}
	checkError(t, m, q, 0.03)
}

// TestDynamicAndWeightOnlyMLP: dynamic int8 quantises the 3 Gemms' weights
// and their inputs at run time (ORT runs DynamicQuantizeMatMul); weight-only
// stores the 3 weight matrices as int8 and dequantises them (float maths).
// Both stay within 2% of fp32.
func TestDynamicAndWeightOnlyMLP(t *testing.T) {
	modeltest.RequireRuntime(t)
	m := sensorMLP(64, 128, 64, 1)
	d, rep, err := quantize.Dynamic(m, quantize.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ops := optimizedOps(t, d)
	t.Log(rep, ops)
	if rep.Quantized["Gemm"] != 3 || rep.Weights != 3 || rep.Samples != 0 {
		t.Errorf("dynamic report %v: want 3 Gemms, 3 weights, no calibration", rep)
	}
	if ops["DynamicQuantizeMatMul"] != 3 || ops["Gemm"]+ops["FusedGemm"] != 0 {
		t.Errorf("dynamic: ORT ran %v, want 3 DynamicQuantizeMatMul and no float Gemm", ops)
	}
	checkSize(t, rep, 0.35)
	checkError(t, m, d, 0.02)

	w, rep, err := quantize.WeightOnly(m, quantize.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ops = optimizedOps(t, w)
	t.Log(rep, ops)
	if rep.Quantized["Gemm"] != 3 || rep.Weights != 3 || rep.Activations != 0 {
		t.Errorf("weight-only report %v: want 3 Gemms, 3 weights, no activations", rep)
	}
	if ops["DequantizeLinear"] != 3 || ops["Gemm"]+ops["FusedGemm"] != 3 || ops["QGemm"]+ops["DynamicQuantizeMatMul"] != 0 {
		t.Errorf("weight-only: ORT ran %v, want 3 DequantizeLinear feeding 3 float Gemms", ops)
	}
	checkSize(t, rep, 0.35)
	checkError(t, m, w, 0.02)
}

// checkSize fails when the quantised file is above ratio of the original.
func checkSize(t *testing.T, rep *quantize.Report, ratio float64) {
	t.Helper()
	if r := float64(rep.SizeAfter) / float64(rep.SizeBefore); r > ratio {
		t.Errorf("%s file is %.1f%% of fp32, want <= %.0f%%", rep.Mode, 100*r, 100*ratio)
	}
}

// checkError compares q with the float model m on sensor windows.
func checkError(t *testing.T, m, q *onnxpb.ModelProto, max float64) {
	t.Helper()
	var samples []compare.Sample
	for _, v := range sensorData(32, 64, 9) {
		samples = append(samples, compare.Sample{Name: "w", Inputs: []models.Tensor{{Shape: []int64{1, 64}, Data: v}}})
	}
	res, err := compare.Files(writeModel(t, m, "fp32.onnx"), writeModel(t, q, "q.onnx"), samples, compare.Options{Task: compare.None})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("rel RMSE %.3f%%", 100*res.RelRMSE)
	if !(res.RelRMSE < max) || res.RelRMSE == 0 {
		t.Errorf("relative RMS error %.3f%%, want above 0 (quantised) and below %.0f%%", 100*res.RelRMSE, 100*max)
	}
}

// TestSensitivityKeepsWorstFloat quantises a sensor MLP whose second layer
// has a few huge outliers in its input range: the sensitivity analysis must
// find that activation, keep it float, and lower the output error.
func TestSensitivityKeepsWorstFloat(t *testing.T) {
	modeltest.RequireRuntime(t)
	m := sensorMLP(64, 128, 64, 1)
	calib := sensorData(64, 64, 2)
	// One calibration window with a spike stretches the ranges of every
	// activation downstream of the input, as a glitching sensor would.
	calib[3][10] = 400
	plain, _, err := quantize.Static(m, quantize.FromVectors(calib), quantize.Options{MaxStep: -1})
	if err != nil {
		t.Fatal(err)
	}
	last := map[string][2]int{}
	kept, rep, err := quantize.Static(m, quantize.FromVectors(calib), quantize.Options{MaxStep: -1, KeepFloat: 1, SensitivitySamples: 8,
		Progress: func(phase string, done, total int) { last[phase] = [2]int{done, total} }})
	if err != nil {
		t.Fatal(err)
	}
	if c, s := last["calibration"], last["sensitivity"]; c != [2]int{len(calib), len(calib)} || s[0] == 0 || s[0] != s[1] {
		t.Errorf("progress ended at calibration %v (want %d of %d), sensitivity %v (want complete)", c, len(calib), len(calib), s)
	}
	t.Log(rep, rep.Skipped)
	// The spike lands in the graph input x; its 8-bit step then erases
	// every ordinary window.
	if rep.SensitivityError <= 0 || !strings.Contains(strings.Join(rep.Skipped, "\n"), `activation "x": kept float by sensitivity`) {
		t.Fatalf("sensitivity error %g, skipped %q", rep.SensitivityError, rep.Skipped)
	}
	test := sensorData(32, 64, 9)
	var samples []compare.Sample
	for _, v := range test {
		samples = append(samples, compare.Sample{Name: "w", Inputs: []models.Tensor{{Shape: []int64{1, 64}, Data: v}}})
	}
	a := writeModel(t, m, "fp32.onnx")
	r1, err := compare.Files(a, writeModel(t, plain, "plain.onnx"), samples, compare.Options{Task: compare.None})
	if err != nil {
		t.Fatal(err)
	}
	var compared [2]int
	r2, err := compare.Files(a, writeModel(t, kept, "kept.onnx"), samples, compare.Options{Task: compare.None,
		Progress: func(done, total int) { compared = [2]int{done, total} }})
	if err != nil {
		t.Fatal(err)
	}
	if compared != [2]int{len(samples), len(samples)} {
		t.Errorf("compare progress ended at %v, want %d of %d", compared, len(samples), len(samples))
	}
	t.Logf("rel RMSE all int8 %.2f%%, worst activation float %.2f%%", 100*r1.RelRMSE, 100*r2.RelRMSE)
	if r2.RelRMSE >= r1.RelRMSE {
		t.Errorf("keeping the most sensitive activation float did not help: %.2f%% -> %.2f%%", 100*r1.RelRMSE, 100*r2.RelRMSE)
	}
}
