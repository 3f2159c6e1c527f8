package quantize_test

import (
	"path/filepath"
	"testing"

	"github.com/edgeflow/edgeflow/models/compare"
	"github.com/edgeflow/edgeflow/models/graph"
	"github.com/edgeflow/edgeflow/models/modeltest"
	"github.com/edgeflow/edgeflow/models/quantize"
	visioneval "github.com/edgeflow/edgeflow/vision/eval"
)

// TestUpgradeKeepsOutputs raises the mirror's opset 11 and 9 models to 13
// and checks in ORT that their outputs do not change.
func TestUpgradeKeepsOutputs(t *testing.T) {
	modeltest.RequireRuntime(t)
	dir, media := sharedMedia(t)
	for _, tc := range []struct {
		file, pre string
		w, h      int
	}{{"yolox_nano.onnx", "yolox", 416, 416}, {"nanodet_m_416.onnx", "nanodet", 416, 416}, {"ultraface_rfb_320.onnx", "ultraface", 320, 240}} {
		t.Run(tc.file, func(t *testing.T) {
			src := filepath.Join(dir, tc.file)
			m, err := graph.Load(src)
			if err != nil {
				t.Fatal(err)
			}
			rewritten, err := quantize.Upgrade(m, 13)
			if err != nil {
				t.Fatal(err)
			}
			if graph.Opset(m, "") != 13 || m.GetIrVersion() < 7 {
				t.Fatalf("opset %d, IR %d after upgrade", graph.Opset(m, ""), m.GetIrVersion())
			}
			t.Logf("rewrote %d nodes", len(rewritten))
			samples, err := visioneval.LoadImages(media, visioneval.ImageOptions{Preprocess: visioneval.Presets[tc.pre], Width: tc.w, Height: tc.h})
			if err != nil {
				t.Fatal(err)
			}
			res, err := compare.Files(src, writeModel(t, m, "up.onnx"), samples, compare.Options{Task: compare.None})
			if err != nil {
				t.Fatal(err)
			}
			if res.MaxAbs > 1e-5 {
				t.Errorf("upgrade changed outputs by up to %g", res.MaxAbs)
			}
		})
	}
}
