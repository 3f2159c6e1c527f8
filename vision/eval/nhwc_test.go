package eval

import (
	"image"
	"image/color"
	"testing"
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
