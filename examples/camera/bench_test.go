//go:build gocv

package camera_test

import (
	"context"
	"fmt"
	"image"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	edgemodels "github.com/edgeflow/edgeflow/models"
	"github.com/edgeflow/edgeflow/models/graph"
	"github.com/edgeflow/edgeflow/models/quantize"
	"github.com/edgeflow/edgeflow/sources/camera"
	"github.com/edgeflow/edgeflow/vision"
	"gocv.io/x/gocv"
)

// BenchmarkDetectorFPS compares, in one run and on the same vtest.avi
// frames, YOLOX-Nano frames per second through the pipeline (camera ->
// image -> onnx -> detect, every frame kept) with a plain gocv +
// onnxruntime_go loop doing the same preprocessing and decoding, with the
// same ONNX Runtime session options (threads, optimisation, sequential
// execution, spinning):
//
//   - plain_fps: the loop, one frame at a time (read, preprocess, infer,
//     decode, then the next);
//   - pipe1_fps: the pipeline with max_in_flight 1, the like-for-like
//     comparison (one frame in the detector path; the camera's grabber
//     still decodes the next frame meanwhile);
//   - pipe2_fps: max_in_flight 2, preprocessing overlapping inference.
//
// Each iteration runs all three back to back (the loop first in even
// iterations, last in odd ones), so that the load of a shared machine hits
// both sides alike; pipe1_%_min and pipe1_%_med are the lowest and median
// per-iteration ratios, pipe1_% the ratio of the totals, and pipe1_%_frame
// the ratio of the median times per frame (plain_ms_frame, pipe1_ms_frame:
// one loop cycle, the time between two pipeline results). Sub-benchmarks:
// spin=off is edgeflow's default (idle ORT threads sleep), spin=on ORT's
// own default (they busy-wait), set on both sides.
func BenchmarkDetectorFPS(b *testing.B) {
	need(b, media+"/vtest.avi")
	const frames = 200
	model := models + "/yolox_nano.onnx"
	for _, spin := range []bool{false, true} {
		b.Run(fmt.Sprintf("spin=%s", map[bool]string{false: "off", true: "on"}[spin]), func(b *testing.B) {
			var plain, pipe1, pipe2 time.Duration
			var ratios []float64
			var plainEach, pipe1Each []time.Duration
			for i := 0; b.Loop(); i++ {
				var p, d1, d2 time.Duration
				var pe []time.Duration
				if i%2 == 0 {
					_, p, pe = plainLoopWith(b, model, frames, spin)
				}
				res, d1 := runStages(b, fmt.Sprintf("fps1-%v-%d", spin, i), fileSource(1), yoloxStagesWith(model, spin), frames)
				_, d2 = runStages(b, fmt.Sprintf("fps2-%v-%d", spin, i), fileSource(2), yoloxStagesWith(model, spin), frames)
				if i%2 == 1 {
					_, p, pe = plainLoopWith(b, model, frames, spin)
				}
				plain, pipe1, pipe2 = plain+p, pipe1+d1, pipe2+d2
				ratios = append(ratios, 100*p.Seconds()/d1.Seconds())
				plainEach = append(plainEach, pe...)
				for j := 1; j < len(res); j++ {
					pipe1Each = append(pipe1Each, res[j].arrived.Sub(res[j-1].arrived))
				}
			}
			fps := func(d time.Duration) float64 { return float64((frames-1)*b.N) / d.Seconds() }
			slices.Sort(ratios)
			b.ReportMetric(fps(plain), "plain_fps")
			b.ReportMetric(fps(pipe1), "pipe1_fps")
			b.ReportMetric(fps(pipe2), "pipe2_fps")
			b.ReportMetric(100*plain.Seconds()/pipe1.Seconds(), "pipe1_%")
			b.ReportMetric(ratios[0], "pipe1_%_min")
			b.ReportMetric(ratios[len(ratios)/2], "pipe1_%_med")
			// Per-frame medians shrug off the bursts of other work on a
			// shared box that the totals include.
			b.ReportMetric(100*median(plainEach).Seconds()/median(pipe1Each).Seconds(), "pipe1_%_frame")
			b.ReportMetric(float64(median(plainEach).Microseconds())/1000, "plain_ms_frame")
			b.ReportMetric(float64(median(pipe1Each).Microseconds())/1000, "pipe1_ms_frame")
			b.ReportMetric(100*plain.Seconds()/pipe2.Seconds(), "pipe2_%")
		})
	}
}

// median returns the median of d (sorting it).
func median(d []time.Duration) time.Duration {
	slices.Sort(d)
	return d[len(d)/2]
}

// fileSource is vtest.avi read as fast as the pipeline takes it, every
// frame kept, with at most inFlight frames in the pipeline.
func fileSource(inFlight int) string {
	return fmt.Sprintf("    id: street\n    file: %s/vtest.avi\n    keep_latest: false\n    realtime: false\n    max_in_flight: %d", media, inFlight)
}

// yoloxStagesWith is yoloxStages with ORT's thread spinning on or off.
func yoloxStagesWith(model string, spinning bool) string {
	return strings.Replace(yoloxStages(model), "    outputs: {output: output}\n",
		fmt.Sprintf("    outputs: {output: output}\n    spinning: %v\n", spinning), 1)
}

// BenchmarkInt8FPS measures detector FPS through the pipeline (max_in_flight
// 1, every frame kept, 100 vtest.avi frames) for fp32 and int8 models:
// YOLOX-Nano fp32 and int8 (quantised by models/quantize, calibrated on 16
// vtest.avi frames letterboxed as the image stage does), NanoDet-m fp32 and
// its upstream int8. people/frame shows what int8 costs in detections.
func BenchmarkInt8FPS(b *testing.B) {
	need(b, media+"/vtest.avi")
	const frames = 100
	src := fmt.Sprintf("    id: street\n    file: %s/vtest.avi\n    keep_latest: false\n    realtime: false\n    max_in_flight: 1", media)
	for _, m := range []struct{ name, stages string }{
		{"yolox-fp32", yoloxStages(models + "/yolox_nano.onnx")},
		{"yolox-int8", yoloxStages(yoloxInt8(b))},
		{"nanodet-fp32", nanodetStages(models+"/nanodet_m_416.onnx", 0.5)},
		{"nanodet-int8", nanodetStages(models+"/nanodet_m_416_int8.onnx", 0.5)},
	} {
		b.Run(m.name, func(b *testing.B) {
			var took time.Duration
			var people, results int
			for i := 0; b.Loop(); i++ {
				res, d := runStages(b, fmt.Sprintf("%s-%d", m.name, i), src, m.stages, frames)
				took += d
				for _, r := range res {
					people += len(only(r.dets, "person"))
				}
				results += len(res)
			}
			b.ReportMetric(float64((frames-1)*b.N)/took.Seconds(), "fps")
			b.ReportMetric(float64(people)/float64(results), "people/frame")
		})
	}
}

// BenchmarkLatency runs the newest-frame pipeline (keep_latest, one frame in
// flight, YOLOX-Nano fp32) on vtest.avi played as a 10 fps and a 30 fps
// camera for 20 s each, and reports capture-to-publish latency (capture
// time to the sink's Write) percentiles and the camera's counters.
func BenchmarkLatency(b *testing.B) {
	need(b, media+"/vtest.avi")
	for _, fps := range []int{10, 30} {
		b.Run(fmt.Sprintf("source%dfps", fps), func(b *testing.B) {
			var lat []time.Duration
			var emitted, skipped, captured uint64
			var secs float64
			for i := 0; b.Loop(); i++ {
				name := fmt.Sprintf("lat%d-%d", fps, i)
				src := fmt.Sprintf("    id: street\n    file: %s/vtest.avi\n    loop: true\n    fps: %d", media, fps)
				bl := build(b, pipelineYAML(name, src, yoloxStages(models+"/yolox_nano.onnx")))
				cam := bl.Components["cam"].(*camera.Camera)
				const dur = 20 * time.Second
				ctx, cancel := context.WithTimeout(context.Background(), dur)
				if err := run(b, bl, ctx); err != nil {
					b.Fatal(err)
				}
				cancel()
				for _, r := range collectorNamed(name).all()[1:] { // the first waits for the model load
					lat = append(lat, r.arrived.Sub(r.captured))
				}
				st := cam.Stats()
				captured += st.Captured.Load()
				emitted += st.Emitted.Load()
				skipped += st.Skipped.Load()
				secs += dur.Seconds()
			}
			slices.Sort(lat)
			pct := func(p float64) float64 {
				return float64(lat[min(len(lat)-1, int(p*float64(len(lat))))].Microseconds()) / 1000
			}
			b.ReportMetric(pct(0.5), "p50_ms")
			b.ReportMetric(pct(0.99), "p99_ms")
			b.ReportMetric(pct(1), "max_ms")
			b.ReportMetric(float64(captured)/secs, "captured/s")
			b.ReportMetric(float64(emitted)/secs, "detected/s")
			b.ReportMetric(float64(skipped)/secs, "skipped/s")
		})
	}
}

// pipelineYAML is camera (src) -> stages (ending in a stage named detect)
// -> test_collect named name.
func pipelineYAML(name, src, stages string) string {
	return fmt.Sprintf("name: %s\nsources:\n  cam:\n    type: camera\n%s\nstages:\n%s\nsinks:\n  out:\n    type: test_collect\n    input: detect\n    name: %s\n",
		name, src, stages, name)
}

// yoloxStages is image -> onnx -> detect for YOLOX-Nano (any precision).
func yoloxStages(model string) string {
	return fmt.Sprintf(`  prep:
    type: image
    input: cam
    width: 416
    height: 416
    pad: [114]
    output: images
  infer:
    type: onnx
    input: prep
    model: %s
    inputs: {images: images}
    outputs: {output: output}
  detect:
    type: detect
    input: infer
    model: yolox
    threshold: 0.35
`, model)
}

// runStages runs camera -> stages -> collector until n results arrived and
// returns them with the time from the first to the last (n-1 frames).
func runStages(tb testing.TB, name, src, stages string, n int) ([]result, time.Duration) {
	tb.Helper()
	b := build(tb, pipelineYAML(name, src, stages))
	c, took := runUntil(tb, b, name, n)
	if took == 0 {
		tb.Fatalf("%s: only %d results", name, len(c.all()))
	}
	return c.all(), took
}

var (
	int8Once sync.Once
	int8Path string
	int8Err  error
)

// yoloxInt8 quantises YOLOX-Nano once per test binary (static QDQ,
// per-channel, max step 0.07 as docs/compression.md recommends),
// calibrated on every 25th of the first 400 vtest.avi frames, letterboxed
// like the image stage does. The file goes to a temporary directory.
func yoloxInt8(tb testing.TB) string {
	tb.Helper()
	int8Once.Do(func() { int8Path, int8Err = quantizeYOLOX() })
	if int8Err != nil {
		tb.Fatal(int8Err)
	}
	return int8Path
}

func quantizeYOLOX() (string, error) {
	if err := edgemodels.Init(""); err != nil {
		return "", err
	}
	m, err := graph.Load(models + "/yolox_nano.onnx")
	if err != nil {
		return "", err
	}
	samples, err := letterboxedFrames(media+"/vtest.avi", 400, 25)
	if err != nil {
		return "", err
	}
	q, _, err := quantize.Static(m, quantize.FromSamples(samples), quantize.Options{MaxStep: 0.07})
	if err != nil {
		return "", fmt.Errorf("quantise YOLOX-Nano: %w", err)
	}
	dir, err := os.MkdirTemp("", "edgeflow-camera-int8-")
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, "yolox_nano.int8.onnx")
	return path, graph.Save(path, q)
}

// letterboxedFrames reads every step-th of the first n frames of a video as
// YOLOX input tensors.
func letterboxedFrames(path string, n, step int) ([][]edgemodels.Tensor, error) {
	vc, err := gocv.VideoCaptureFile(path)
	if err != nil {
		return nil, err
	}
	defer vc.Close()
	img, resized, padded, blob := gocv.NewMat(), gocv.NewMat(), gocv.NewMat(), gocv.NewMat()
	defer func() {
		for _, m := range []*gocv.Mat{&img, &resized, &padded, &blob} {
			m.Close()
		}
	}()
	var out [][]edgemodels.Tensor
	for i := 0; i < n && vc.Read(&img); i++ {
		if i%step != 0 {
			continue
		}
		lb, _ := vision.FitLetterbox(img.Cols(), img.Rows(), 416, 416, vision.TopLeft)
		w, h := lb.Resized()
		gocv.Resize(img, &resized, image.Pt(w, h), 0, 0, gocv.InterpolationLinear)
		gocv.CopyMakeBorder(resized, &padded, 0, 416-h, 0, 416-w, gocv.BorderConstant, colorGrey)
		gocv.BlobFromImages([]gocv.Mat{padded}, &blob, 1, image.Pt(416, 416), gocv.NewScalar(0, 0, 0, 0), false, false, gocv.MatTypeCV32F)
		data, err := blob.DataPtrFloat32()
		if err != nil {
			return nil, err
		}
		out = append(out, []edgemodels.Tensor{{Shape: []int64{1, 3, 416, 416}, Data: slices.Clone(data)}})
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no frames read from %s", path)
	}
	return out, nil
}
