//go:build gocv

package face_test

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"
)

// BenchmarkFaceFPS measures frames per second through the pipeline (camera
// -> image -> onnx -> detect, every frame kept, one in flight, 1 thread) for
// the fp32 conversion and the int8 model, on the 120-frame face video, and
// faces per frame. The two runs of an iteration alternate in order.
func BenchmarkFaceFPS(b *testing.B) {
	f := prepare(b)
	models := map[string]string{"fp32": filepath.Join(f.dir, fp32Name), "int8": filepath.Join(f.dir, int8Name)}
	took := map[string]time.Duration{}
	faces := map[string]int{}
	frames := 0
	for i := 0; b.Loop(); i++ {
		order := []string{"fp32", "int8"}
		if i%2 == 1 {
			order = []string{"int8", "fp32"}
		}
		for _, name := range order {
			res, d := runVideo(b, fmt.Sprintf("bench-%s-%d-%d", name, b.N, i), f.video, models[name])
			took[name] += d
			for _, r := range res {
				faces[name] += len(r.dets)
			}
			if name == "fp32" {
				frames += len(res) - 1 // the time covers all frames but the first
			}
		}
	}
	for _, name := range []string{"fp32", "int8"} {
		b.ReportMetric(float64(frames)/took[name].Seconds(), name+"_fps")
		b.ReportMetric(float64(faces[name])/float64(frames+b.N), name+"_faces/frame")
	}
}
