//go:build gocv

package camera_test

import (
	"strconv"
	"testing"
	"time"
)

// BenchmarkDetectorFPS compares, in one run, detector frames per second
// through the pipeline (camera -> image -> onnx -> detect, every frame kept)
// with a plain gocv + onnxruntime_go loop doing the same preprocessing and
// decoding. It reports both and their ratio.
func BenchmarkDetectorFPS(b *testing.B) {
	need(b, media+"/vtest.avi")
	const frames = 200
	var plain, piped time.Duration
	for i := 0; b.Loop(); i++ {
		_, d := plainLoop(b, frames)
		plain += d
		_, d = runVideo(b, "bench"+strconv.Itoa(i), frames)
		piped += d
	}
	plainFPS := float64(frames*b.N) / plain.Seconds()
	pipeFPS := float64(frames*b.N) / piped.Seconds()
	b.ReportMetric(plainFPS, "plain_fps")
	b.ReportMetric(pipeFPS, "pipeline_fps")
	b.ReportMetric(100*pipeFPS/plainFPS, "pipeline_%")
}
