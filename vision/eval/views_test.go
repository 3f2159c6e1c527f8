package eval

import (
	"image"
	"image/color"
	"testing"

	"github.com/edgeflow/edgeflow/models/compare"
)

func TestParseViews(t *testing.T) {
	v, err := ParseViews("full, mirror,crop,crop0.6-br,mirror-crop0.5-tl")
	if err != nil {
		t.Fatal(err)
	}
	want := []View{
		{Name: "full", X: 0.5, Y: 0.5},
		{Name: "mirror", Mirror: true, X: 0.5, Y: 0.5},
		{Name: "crop", Crop: 0.75, X: 0.5, Y: 0.5},
		{Name: "crop0.6-br", Crop: 0.6, X: 1, Y: 1},
		{Name: "mirror-crop0.5-tl", Mirror: true, Crop: 0.5},
	}
	if len(v) != len(want) {
		t.Fatalf("got %d views, want %d", len(v), len(want))
	}
	for i := range want {
		if v[i] != want[i] {
			t.Errorf("view %d = %+v, want %+v", i, v[i], want[i])
		}
	}
	for _, bad := range []string{"", "zoom", "crop1.5", "cropx", "crop0-tl", "mirror-zoom"} {
		if _, err := ParseViews(bad); err == nil {
			t.Errorf("ParseViews(%q) accepted", bad)
		}
	}
}

// TestImageViews checks that views crop at the right place and mirror:
// a 10x10 image whose pixel (x, y) has red x and green y.
func TestImageViews(t *testing.T) {
	img := image.NewRGBA(image.Rect(0, 0, 10, 10))
	for y := range 10 {
		for x := range 10 {
			img.Set(x, y, color.RGBA{uint8(x), uint8(y), 0, 255})
		}
	}
	src := toRGB(img)
	at := func(m *rgbImage, x, y int) (r, g uint8) { return m.pix[3*(y*m.w+x)], m.pix[3*(y*m.w+x)+1] }
	for _, tc := range []struct {
		view       string
		w, h       int
		r00, g00   uint8 // top-left pixel of the view
		rEnd, gEnd uint8 // bottom-right pixel
	}{
		{"full", 10, 10, 0, 0, 9, 9},
		{"mirror", 10, 10, 9, 0, 0, 9},
		{"crop0.5-tl", 5, 5, 0, 0, 4, 4},
		{"crop0.5-br", 5, 5, 5, 5, 9, 9},
		{"crop0.6", 6, 6, 2, 2, 7, 7},
		{"mirror-crop0.5-tr", 5, 5, 9, 0, 5, 4},
	} {
		v, err := ParseViews(tc.view)
		if err != nil {
			t.Fatal(err)
		}
		out := v[0].apply(src)
		if out.w != tc.w || out.h != tc.h {
			t.Errorf("%s: %dx%d, want %dx%d", tc.view, out.w, out.h, tc.w, tc.h)
			continue
		}
		if r, g := at(out, 0, 0); r != tc.r00 || g != tc.g00 {
			t.Errorf("%s: top-left pixel comes from (%d,%d), want (%d,%d)", tc.view, r, g, tc.r00, tc.g00)
		}
		if r, g := at(out, out.w-1, out.h-1); r != tc.rEnd || g != tc.gEnd {
			t.Errorf("%s: bottom-right pixel comes from (%d,%d), want (%d,%d)", tc.view, r, g, tc.rEnd, tc.gEnd)
		}
	}
	s, err := ImageSamples("x.png", img, ImageOptions{Preprocess: Presets["rgb"], Width: 8, Height: 8, Augment: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(s) != 3 || s[0].Name != "x.png" || s[1].Name != "x.png#mirror" || s[2].Name != "x.png#crop" {
		t.Errorf("augmented samples %v, want x.png, x.png#mirror, x.png#crop", names(s))
	}
}

func names(s []compare.Sample) []string {
	out := make([]string, len(s))
	for i := range s {
		out[i] = s[i].Name
	}
	return out
}
