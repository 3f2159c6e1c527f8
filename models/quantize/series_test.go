package quantize_test

import (
	"path/filepath"
	"testing"

	anomalyeval "github.com/edgeflow/edgeflow/anomaly/eval"
	"github.com/edgeflow/edgeflow/models/compare"
	"github.com/edgeflow/edgeflow/models/modeltest"
	"github.com/edgeflow/edgeflow/models/quantize"
)

// TestStaticFromNABSeries calibrates a window autoencoder on NAB series cut
// into z-scored windows (as the anomaly stage feeds it) and checks the
// int8 model's reconstruction-error ranking on other NAB series.
func TestStaticFromNABSeries(t *testing.T) {
	modeltest.RequireRuntime(t)
	dir := modeltest.SharedModels()
	if dir == "" {
		t.Skip("skipping: no model mirror at ../shared/models (set EDGEFLOW_SHARED_MODELS)")
	}
	corpus := filepath.Join(filepath.Dir(dir), "data", "nab", "data")
	const width = 64
	calib, err := anomalyeval.LoadSeries(filepath.Join(corpus, "realKnownCause", "*.csv"), anomalyeval.SeriesOptions{Window: width, Limit: 512})
	if err != nil {
		t.Fatal(err)
	}
	test, err := anomalyeval.LoadSeries(filepath.Join(corpus, "artificialWithAnomaly", "*.csv"), anomalyeval.SeriesOptions{Window: width, Stride: 16, Limit: 400})
	if err != nil {
		t.Fatal(err)
	}
	m := sensorMLP(width, 256, 32, 3)
	q, rep, err := quantize.Static(m, calibrator(calib), quantize.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Log(rep)
	if rep.Samples != 512 {
		t.Errorf("calibrated on %d windows, want 512", rep.Samples)
	}
	res, err := compare.Files(writeModel(t, m, "fp32.onnx"), writeModel(t, q, "int8.onnx"), test, compare.Options{Task: anomalyeval.Reconstruction})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("rel RMSE %.2f%%, score rank correlation %.4f over %d windows", 100*res.RelRMSE, res.Agreement, res.Samples)
	// Measured: 3.4% and 0.996 (a random-weight 64-256-32-64 model; the
	// trained sensor MLP of speed_test.go stays under 2%).
	if res.RelRMSE > 0.05 || res.Agreement < 0.99 {
		t.Errorf("rel RMSE %.2f%% (want < 5%%), rank correlation %.4f (want >= 0.99)", 100*res.RelRMSE, res.Agreement)
	}
	// Calibrating on raw readings instead of the z-scored windows the
	// model sees sets ranges for the wrong data: much worse.
	raw, err := anomalyeval.LoadSeries(filepath.Join(corpus, "realKnownCause", "*.csv"), anomalyeval.SeriesOptions{Window: width, Limit: 512, Normalize: "none"})
	if err != nil {
		t.Fatal(err)
	}
	bad, _, err := quantize.Static(m, calibrator(raw), quantize.Options{})
	if err != nil {
		t.Fatal(err)
	}
	worse, err := compare.Files(writeModel(t, m, "fp32.onnx"), writeModel(t, bad, "raw.onnx"), test, compare.Options{Task: anomalyeval.Reconstruction})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("calibrated on raw readings: rel RMSE %.2f%%, rank correlation %.4f", 100*worse.RelRMSE, worse.Agreement)
	if worse.RelRMSE < 2*res.RelRMSE {
		t.Errorf("raw calibration error %.2f%% is not clearly worse than %.2f%%", 100*worse.RelRMSE, 100*res.RelRMSE)
	}
}
