//go:build gocv

package quantize_test

import (
	"fmt"
	"path/filepath"
	"testing"

	"github.com/edgeflow/edgeflow/models/compare"
	visioneval "github.com/edgeflow/edgeflow/vision/eval"
	"gocv.io/x/gocv"
)

// videoFrames reads every step-th frame of the mirror's vtest.avi
// (pedestrians and cars), starting at frame first, up to n frames, as
// samples for preset's detector (whole frames).
func videoFrames(t testing.TB, media, preset string, first, step, n int) []compare.Sample {
	t.Helper()
	vc, err := gocv.VideoCaptureFile(filepath.Join(media, "vtest.avi"))
	if err != nil {
		t.Fatal(err)
	}
	defer vc.Close()
	mat := gocv.NewMat()
	defer mat.Close()
	var out []compare.Sample
	opts := visioneval.ImageOptions{Preprocess: visioneval.Presets[preset], Width: 416, Height: 416}
	for i := 0; len(out) < n; i++ {
		if !vc.Read(&mat) || mat.Empty() {
			break
		}
		if i < first || (i-first)%step != 0 {
			continue
		}
		img, err := mat.ToImage()
		if err != nil {
			t.Fatal(err)
		}
		s, err := visioneval.ImageSamples(fmt.Sprintf("vtest.avi@%d", i), img, opts)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, s...)
	}
	if len(out) < n {
		t.Fatalf("vtest.avi: read %d frames, want %d", len(out), n)
	}
	return out
}
