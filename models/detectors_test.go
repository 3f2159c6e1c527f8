package models_test

import (
	"bufio"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/edgeflow/edgeflow/models"
	"github.com/edgeflow/edgeflow/models/modeltest"
)

// sharedModel returns a model from the mirror and its published sha256, or
// skips when the mirror is absent (it is never part of the repository).
func sharedModel(t *testing.T, name string) (path, sum string) {
	t.Helper()
	dir := modeltest.SharedModels()
	if dir == "" {
		t.Skip("skipping: no model mirror at ../shared/models (set EDGEFLOW_SHARED_MODELS)")
	}
	f, err := os.Open(filepath.Join(dir, "SHA256SUMS"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if fields := strings.Fields(s.Text()); len(fields) == 2 && fields[1] == name {
			return filepath.Join(dir, name), fields[0]
		}
	}
	t.Fatalf("%s is not in SHA256SUMS", name)
	return "", ""
}

// TestDetectors runs the mirror's detectors on a grey image and checks the
// output shapes their README documents.
func TestDetectors(t *testing.T) {
	modeltest.RequireRuntime(t)
	checked := 0
	for _, tc := range []struct {
		file  string
		input []int64
		want  map[string][]int64
	}{
		{"yolox_nano.onnx", []int64{1, 3, 416, 416}, map[string][]int64{"output": {1, 3549, 85}}},
		{"nanodet_m_416.onnx", []int64{1, 3, 416, 416}, map[string][]int64{
			"792": {1, 2704, 80}, "814": {1, 676, 80}, "836": {1, 169, 80},
			"795": {1, 2704, 32}, "817": {1, 676, 32}, "839": {1, 169, 32}}},
		{"nanodet_m_416_int8.onnx", []int64{1, 3, 416, 416}, nil},
		{"ultraface_rfb_320.onnx", []int64{1, 3, 240, 320}, map[string][]int64{"scores": {1, 4420, 2}, "boxes": {1, 4420, 4}}},
	} {
		t.Run(tc.file, func(t *testing.T) {
			path, sum := sharedModel(t, tc.file)
			m, err := models.Open(path, models.LoadOptions{SHA256: sum})
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			img := make([]float32, models.Elements(tc.input))
			for i := range img {
				img[i] = 114
			}
			outs, err := m.Run([]models.Tensor{{Shape: tc.input, Data: img}})
			if err != nil {
				t.Fatal(err)
			}
			info, _ := m.Info()
			if tc.want == nil {
				tc.want = map[string][]int64{"792": {1, 2704, 80}, "795": {1, 2704, 32}}
			}
			for name, shape := range tc.want {
				i := slices.Index(info.OutputNames(), name)
				if i < 0 {
					t.Fatalf("no output %q in %v", name, info.OutputNames())
				}
				if !slices.Equal(outs[i].Shape, shape) || int64(len(outs[i].Data)) != models.Elements(shape) {
					t.Errorf("output %q: shape %v (%d values), want %v", name, outs[i].Shape, len(outs[i].Data), shape)
				}
			}
			if info.Quantized() {
				// Open ran the int8 kernel check (refuse by default); say
				// what it measured on this CPU.
				data, err := os.ReadFile(path)
				if err != nil {
					t.Fatal(err)
				}
				rep, err := models.CheckKernels(data, models.Options{}, 0)
				if err != nil || !rep.OK() {
					t.Fatalf("kernel check: %v, %v", rep, err)
				}
				// A QLinearConv model's reference is rewritten to float
				// convolutions; if the rewrite were wrong the outputs
				// would differ far beyond the tolerance.
				if !strings.Contains(rep.Reference, "QLinearConv/QLinearMatMul nodes unfused") {
					t.Errorf("the reference of a QLinearConv model is not independent of the int8 kernels: %v", rep)
				}
				t.Log(rep)
			}
			checked++
		})
	}
	if checked == 0 {
		t.Fatal("every subtest skipped: no detector was checked")
	}
}
