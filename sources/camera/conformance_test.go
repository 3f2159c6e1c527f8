//go:build gocv

package camera

import (
	"image"
	"image/color"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/edgeflow/edgeflow/internal/componenttest"
	"github.com/edgeflow/edgeflow/pipeline"
	"gocv.io/x/gocv"
)

// The camera source against the source conformance suite, on a small MJPEG
// file that "publishing" frames 0..n-1 writes, read with every frame kept
// and as fast as the pipeline takes them. A frame's sequence number is its
// frame_id; the camera acknowledges to no broker and ends with the file.
func TestConformance(t *testing.T) {
	componenttest.TestSource(t, func(t *testing.T) componenttest.SourceHarness {
		path := filepath.Join(t.TempDir(), "frames.avi")
		frames := 0
		return componenttest.SourceHarness{
			Features: componenttest.SourceFeatures{Finite: true, Ordered: true},
			Publish: func(t *testing.T, seqs ...int) {
				for _, s := range seqs {
					if s != frames {
						t.Fatalf("a video holds frames 0, 1, 2...; cannot publish %d after %d", s, frames)
					}
					frames++
				}
			},
			New: func(t *testing.T) (pipeline.Source, func()) {
				writeVideo(t, path, frames)
				cfg := "id: cam\nfile: " + path + "\nkeep_latest: false\nrealtime: false\nmax_in_flight: 4\n" +
					"reconnect: {max_attempts: 1}"
				return componenttest.MustBuild(t, pipeline.KindSource, "camera", cfg).(pipeline.Source), func() {}
			},
			Seq: func(m *pipeline.Message) (int, bool) {
				id, ok := m.Fields["frame_id"].(uint64)
				return int(id), ok
			},
		}
	})
}

// writeVideo writes n small MJPEG frames, each with its number drawn on it.
func writeVideo(t *testing.T, path string, n int) {
	t.Helper()
	w, err := gocv.VideoWriterFile(path, "MJPG", 10, 64, 48, true)
	if err != nil {
		t.Fatalf("video writer: %v", err)
	}
	defer w.Close()
	img := gocv.NewMatWithSize(48, 64, gocv.MatTypeCV8UC3)
	defer img.Close()
	for i := range n {
		img.SetTo(gocv.NewScalar(0, 0, 0, 0))
		gocv.PutText(&img, strconv.Itoa(i), image.Pt(4, 40), gocv.FontHersheySimplex, 1, color.RGBA{255, 255, 255, 0}, 2)
		if err := w.Write(img); err != nil {
			t.Fatalf("write frame %d: %v", i, err)
		}
	}
}
