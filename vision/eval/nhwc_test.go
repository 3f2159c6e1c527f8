package eval

import (
	"image"
	"image/color"
	"testing"

	"github.com/edgeflow/edgeflow/models"
	"github.com/edgeflow/edgeflow/models/compare"
)

// The NHWC layout holds the same values as NCHW, interleaved per pixel.
func TestPreprocessNHWC(t *testing.T) {
	img := image.NewRGBA(image.Rect(0, 0, 12, 6))
	for y := range 6 {
		for x := range 12 {
			img.Set(x, y, color.RGBA{uint8(20 * x), uint8(40 * y), 255, 255})
		}
	}
	nhwc := Presets["blazeface"]
	nchw := nhwc
	nchw.NHWC = false
	a, err := ImageSamples("x.png", img, ImageOptions{Preprocess: nhwc, Width: 8, Height: 8})
	if err != nil {
		t.Fatal(err)
	}
	b, err := ImageSamples("x.png", img, ImageOptions{Preprocess: nchw, Width: 8, Height: 8})
	if err != nil {
		t.Fatal(err)
	}
	ta, tb := a[0].Inputs[0], b[0].Inputs[0]
	if ta.Shape[1] != 8 || ta.Shape[3] != 3 || tb.Shape[1] != 3 {
		t.Fatalf("shapes %v %v", ta.Shape, tb.Shape)
	}
	for c := range 3 {
		for p := range 64 {
			if ta.Data[p*3+c] != tb.Data[c*64+p] {
				t.Fatalf("channel %d pixel %d: %g vs %g", c, p, ta.Data[p*3+c], tb.Data[c*64+p])
			}
		}
	}
	// Padding (the letterbox's top rows) is -1: black scaled to [-1, 1].
	if ta.Data[0] != -1 || ta.Data[8*4*3] == -1 {
		t.Errorf("padding %g, first image row %g", ta.Data[0], ta.Data[8*4*3])
	}
}

// The blazeface detector reads the input size from an NHWC input.
func TestDetectBlazeFaceNHWC(t *testing.T) {
	scores := make([]float32, 896)
	for i := range scores {
		scores[i] = -10
	}
	scores[0] = 4
	boxes := make([]float32, 896*16)
	copy(boxes, []float32{10, 10, 20, 20})
	outs := []models.Tensor{{Shape: []int64{1, 896, 16}, Data: boxes}, {Shape: []int64{1, 896, 1}, Data: scores}}
	in := models.Tensor{Shape: []int64{1, 128, 128, 3}}
	dets, err := Detect{Decoder: "blazeface", Threshold: 0.5, IoU: 0.3}.detect(compare.Run{In: []models.Tensor{in}, Out: outs})
	if err != nil {
		t.Fatal(err)
	}
	if len(dets) != 1 || dets[0].Box.X1 != 4 || dets[0].Box.X2 != 24 {
		t.Errorf("%+v", dets)
	}
}
