package anomalytest

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/edgeflow/edgeflow/anomaly"
	"github.com/edgeflow/edgeflow/models"
	"github.com/edgeflow/edgeflow/models/modeltest"
)

func read(t *testing.T, n int) []byte {
	t.Helper()
	dir := t.TempDir()
	path := model(t, dir, n)
	if path != filepath.Join(dir, "anomaly.int8.onnx") {
		t.Fatalf("model written to %s, want anomaly.int8.onnx in %s", path, dir)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// The model is deterministic, takes windows of 16 and reconstructs a smooth
// synthetic window better than a zig-zag it never saw.
func TestModelIsDeterministicAndReconstructs(t *testing.T) {
	modeltest.RequireRuntime(t)
	a, b := read(t, 3000), read(t, 3000)
	if !bytes.Equal(a, b) {
		t.Fatal("the same seed gave two different models")
	}
	if anomaly.WindowOf(a) != 16 {
		t.Fatalf("window %d, want 16", anomaly.WindowOf(a))
	}
	s, err := models.NewSession(a, models.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	smooth := make([]float32, 16)
	odd := make([]float32, 16)
	for i := range smooth {
		smooth[i] = float32(i)/8 - 1
		odd[i] = float32(i%2)*4 - 2
	}
	out, err := s.Run([]models.Tensor{{Shape: []int64{2, 16}, Data: append(append([]float32{}, smooth...), odd...)}})
	if err != nil {
		t.Fatal(err)
	}
	y := out[0].Data
	if es, eo := anomaly.MSE(smooth, y[:16]), anomaly.MSE(odd, y[16:]); eo < 5*es {
		t.Fatalf("zig-zag error %.4f vs ramp %.4f: want the unseen shape clearly worse", eo, es)
	}
}
