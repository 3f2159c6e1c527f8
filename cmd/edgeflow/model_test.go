package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/edgeflow/edgeflow/models/modeltest"
)

func TestModelInspect(t *testing.T) {
	modeltest.RequireRuntime(t)
	mirror := modeltest.SharedModels()
	if mirror == "" {
		t.Skip("skipping: no model mirror at ../shared/models")
	}
	r := edgeflow(t, nil, "model", "inspect", filepath.Join(mirror, "yolox_nano.onnx"))
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	for _, want := range []string{"images  float32  [1,3,416,416]", "output  float32  [1,3549,85]", "ai.onnx 11", "Conv", "695e750a"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, r.stdout)
		}
	}
}

func TestModelInspectJSONAndBench(t *testing.T) {
	modeltest.RequireRuntime(t)
	mlp := &modeltest.MLP{In: 8, Hidden: 16, Out: 2, Seed: 1}
	path := mlp.Write(t, t.TempDir(), "mlp.onnx")
	r := edgeflow(t, nil, "model", "inspect", "--json", path)
	var info struct {
		Opset     int64          `json:"opset"`
		Operators map[string]int `json:"operators"`
		Inputs    []struct {
			Name  string  `json:"name"`
			Shape []int64 `json:"shape"`
		} `json:"inputs"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &info); err != nil || r.code != 0 {
		t.Fatalf("exit %d, %v: %s %s", r.code, err, r.stdout, r.stderr)
	}
	if info.Opset != 13 || info.Operators["Gemm"] != 1 || info.Inputs[0].Name != "x" || info.Inputs[0].Shape[0] != -1 {
		t.Errorf("inspect --json: %+v", info)
	}

	r = edgeflow(t, nil, "model", "bench", path, "--batch", "4", "--threads", "1", "--duration", "300ms", "--json")
	var res benchResult
	if err := json.Unmarshal([]byte(r.stdout), &res); err != nil || r.code != 0 {
		t.Fatalf("exit %d, %v: %s %s", r.code, err, r.stdout, r.stderr)
	}
	if res.Runs == 0 || res.Batch != 4 || res.Samples != 4*res.RunsPerSec || res.P99ms < res.P50ms {
		t.Errorf("bench: %+v", res)
	}
	if res.CPU.Arch == "" || res.Int8GEMM == "" {
		t.Errorf("bench does not say which instruction sets ORT can use: %+v", res)
	}
	// 2^60 × 8 wraps to a negative count: a usage error, not a makeslice panic.
	if r := edgeflow(t, nil, "model", "bench", path, "--shape", "x=1152921504606846976,8", "--duration", "100ms"); r.code != 2 || !strings.Contains(r.stderr, "at most 2^30 values") {
		t.Errorf("bench with a shape whose count wraps: exit %d, %s", r.code, r.stderr)
	}
	if r := edgeflow(t, nil, "model", "bench", path, "--threads", "1", "--duration", "100ms"); r.code != 0 || !strings.Contains(r.stdout, "int8 GEMM: ") {
		t.Errorf("bench text output lacks the instruction sets: exit %d, %s", r.code, r.stdout)
	}
	if strings.Contains(r.stderr, "runs/s") {
		t.Error("progress line printed although stderr is not a terminal")
	}
}

func TestModelErrors(t *testing.T) {
	modeltest.RequireRuntime(t)
	r := edgeflow(t, nil, "model", "inspect", "/nonexistent.onnx")
	if r.code != 1 || !strings.Contains(r.stderr, "/nonexistent.onnx") {
		t.Errorf("inspect missing file: exit %d, %s", r.code, r.stderr)
	}
	bad := filepath.Join(t.TempDir(), "bad.onnx")
	os.WriteFile(bad, []byte("garbage"), 0o644)
	if r := edgeflow(t, nil, "model", "bench", bad, "--duration", "100ms"); r.code != 1 {
		t.Errorf("bench garbage: exit %d, %s", r.code, r.stderr)
	}
	if r := edgeflow(t, nil, "model", "bench", bad, "--batch", "0"); r.code != 2 {
		t.Errorf("bench --batch 0: exit %d, %s", r.code, r.stderr)
	}
}

func TestModelPull(t *testing.T) {
	mirror := modeltest.SharedModels()
	if mirror == "" {
		t.Skip("skipping: no model mirror at ../shared/models")
	}
	cache := t.TempDir()
	env := []string{"EDGEFLOW_MODEL_CACHE=" + cache, "EDGEFLOW_MODEL_MIRROR=" + mirror}
	r := edgeflow(t, env, "model", "pull", "ultraface-rfb-320")
	if r.code != 0 || strings.TrimSpace(r.stdout) != filepath.Join(cache, "ultraface_rfb_320.onnx") {
		t.Fatalf("exit %d: %q %s", r.code, r.stdout, r.stderr)
	}
	// A tampered mirror fails the pull and leaves the cache alone.
	tampered := t.TempDir()
	os.WriteFile(filepath.Join(tampered, "yolox_nano.onnx"), []byte("evil"), 0o644)
	r = edgeflow(t, []string{"EDGEFLOW_MODEL_CACHE=" + cache}, "model", "pull", "--mirror", tampered, "yolox-nano")
	if r.code != 1 || !strings.Contains(r.stderr, "sha256 mismatch") {
		t.Fatalf("tampered mirror: exit %d, %s", r.code, r.stderr)
	}
	if _, err := os.Stat(filepath.Join(cache, "yolox_nano.onnx")); !os.IsNotExist(err) {
		t.Fatal("a mismatching file entered the cache")
	}
	if r := edgeflow(t, env, "model", "pull", "--list"); r.code != 0 || !strings.Contains(r.stdout, "blazeface") {
		t.Fatalf("--list: exit %d, %s", r.code, r.stdout)
	}
}
