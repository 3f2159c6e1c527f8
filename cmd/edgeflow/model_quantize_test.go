package main

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/edgeflow/edgeflow/models/modeltest"
)

func TestModelQuantizeNABCalibration(t *testing.T) {
	modeltest.RequireRuntime(t)
	mirror := modeltest.SharedModels()
	if mirror == "" {
		t.Skip("skipping: no model mirror at ../shared/models")
	}
	series := "nab:" + filepath.Join(filepath.Dir(mirror), "data", "nab", "data", "realKnownCause", "*.csv")
	dir := t.TempDir()
	// An autoencoder-shaped model: the window width is its input width.
	in := (&modeltest.MLP{In: 32, Hidden: 64, Out: 32, Batch: 1, Seed: 2}).Write(t, dir, "ae.onnx")
	out := filepath.Join(dir, "ae.int8.onnx")
	r := edgeflow(t, nil, "model", "quantize", in, out, "--calib", series, "--limit", "300")
	if r.code != 0 || !strings.Contains(r.stdout, "300 samples") {
		t.Fatalf("quantize: exit %d: %s %s", r.code, r.stdout, r.stderr)
	}
	r = edgeflow(t, nil, "model", "compare", in, out, "--data", series, "--stride", "32", "--limit", "200", "--json")
	var res struct {
		Task      string  `json:"task"`
		Samples   int     `json:"samples"`
		Agreement float64 `json:"agreement"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &res); err != nil || r.code != 0 {
		t.Fatalf("compare: exit %d, %v: %s %s", r.code, err, r.stdout, r.stderr)
	}
	if res.Task != "anomaly" || res.Samples != 200 || res.Agreement < 0.98 {
		t.Errorf("compare: task %s, %d samples, rank correlation %.4f", res.Task, res.Samples, res.Agreement)
	}
	if r := edgeflow(t, nil, "model", "quantize", in, out, "--calib", "nab:/nonexistent/*.csv"); r.code == 0 || !strings.Contains(r.stderr, "no file matches") {
		t.Errorf("missing series: exit %d: %s", r.code, r.stderr)
	}
}

// TestModelQuantizeDetectorRecipe: a detector is recognised from its
// outputs and gets its recipe with no more than --calib; the result is
// kernel-checked on two stored samples; compare takes the optimisation
// level.
func TestModelQuantizeDetectorRecipe(t *testing.T) {
	modeltest.RequireRuntime(t)
	mirror := modeltest.SharedModels()
	if mirror == "" {
		t.Skip("skipping: no model mirror at ../shared/models")
	}
	media := filepath.Join(filepath.Dir(mirror), "media")
	in := filepath.Join(mirror, "ultraface_rfb_320.onnx")
	out := filepath.Join(t.TempDir(), "uf.int8.onnx")
	r := edgeflow(t, nil, "model", "quantize", in, out, "--calib", media)
	if r.code != 0 {
		t.Fatalf("quantize: exit %d: %s %s", r.code, r.stdout, r.stderr)
	}
	for _, want := range []string{"detector ultraface", "calibration views crop0.6-tl", "15 samples", "int8 kernel check: 2 stored samples"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("quantize output lacks %q:\n%s", want, r.stdout)
		}
	}
	r = edgeflow(t, nil, "model", "compare", in, out, "--data", media, "--views", "full", "--detector", "ultraface",
		"--threads", "1", "--optimization", "basic", "--repeat", "1")
	if r.code != 0 || !strings.Contains(r.stdout, "agreement") || !strings.Contains(r.stdout, "scored within 0.05 of the threshold") {
		t.Errorf("compare --optimization basic: exit %d: %s %s", r.code, r.stdout, r.stderr)
	}
	if r := edgeflow(t, nil, "model", "quantize", in, out, "--calib", media, "--detector", "ssd"); r.code != 2 || !strings.Contains(r.stderr, "unknown detector family") {
		t.Errorf("--detector ssd: exit %d: %s", r.code, r.stderr)
	}
}
