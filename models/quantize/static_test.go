package quantize_test

import (
	"strings"
	"testing"

	"github.com/edgeflow/edgeflow/models"
	"github.com/edgeflow/edgeflow/models/compare"
	"github.com/edgeflow/edgeflow/models/modeltest"
	"github.com/edgeflow/edgeflow/models/quantize"
)

func TestStaticMLPFuses(t *testing.T) {
	modeltest.RequireRuntime(t)
	m := sensorMLP(64, 128, 64, 1)
	q, rep, err := quantize.Static(m, quantize.FromVectors(sensorData(64, 64, 2)), quantize.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Log(rep)
	ops := optimizedOps(t, q)
	t.Log(ops)
}

func TestDynamicAndWeightOnlyMLP(t *testing.T) {
	modeltest.RequireRuntime(t)
	m := sensorMLP(64, 128, 64, 1)
	d, rep, err := quantize.Dynamic(m, quantize.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Log(rep, optimizedOps(t, d))
	w, rep, err := quantize.WeightOnly(m, quantize.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Log(rep, optimizedOps(t, w))
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
	kept, rep, err := quantize.Static(m, quantize.FromVectors(calib), quantize.Options{MaxStep: -1, KeepFloat: 1, SensitivitySamples: 8})
	if err != nil {
		t.Fatal(err)
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
	r2, err := compare.Files(a, writeModel(t, kept, "kept.onnx"), samples, compare.Options{Task: compare.None})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("rel RMSE all int8 %.2f%%, worst activation float %.2f%%", 100*r1.RelRMSE, 100*r2.RelRMSE)
	if r2.RelRMSE >= r1.RelRMSE {
		t.Errorf("keeping the most sensitive activation float did not help: %.2f%% -> %.2f%%", 100*r1.RelRMSE, 100*r2.RelRMSE)
	}
}
