//go:build gocv

package camera_test

import (
	"context"
	"fmt"
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
	visioneval "github.com/edgeflow/edgeflow/vision/eval"
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
// 1, every frame kept, 100 vtest.avi frames) for YOLOX-Nano and NanoDet-m,
// fp32 and int8, at 1 and 2 ONNX Runtime intra-op threads. The int8 models
// are what `edgeflow model quantize MODEL OUT --calib ../shared/media`
// writes: the family's recipe (quantize.Recipe), calibrated on crops of the
// mirror's still images, so every video frame is held out. Each iteration
// runs fp32 and int8 back to back (alternating which goes first), so load
// from other work hits both; ratio is int8 FPS over fp32 FPS over all
// iterations, agree the share of fp32 detections int8 matches (same class,
// IoU >= 0.5; 2·matched / (fp32 + int8) on the same frames).
func BenchmarkInt8FPS(b *testing.B) {
	need(b, media+"/vtest.avi")
	const frames = 100
	src := fmt.Sprintf("    id: street\n    file: %s/vtest.avi\n    keep_latest: false\n    realtime: false\n    max_in_flight: 1", media)
	for _, d := range []struct {
		name, file string
		stages     func(model string) string
	}{
		{"yolox", "yolox_nano.onnx", yoloxStages},
		{"nanodet", "nanodet_m_416.onnx", func(m string) string { return nanodetStages(m, 0.5) }},
	} {
		for _, threads := range []int{1, 2} {
			b.Run(fmt.Sprintf("%s/threads=%d", d.name, threads), func(b *testing.B) {
				fp32 := withThreads(d.stages(models+"/"+d.file), threads)
				int8 := withThreads(d.stages(detectorInt8(b, d.name, d.file)), threads)
				var took [2]time.Duration
				var matched, dets [2]int
				for i := 0; b.Loop(); i++ {
					var res [2][]result
					for k := range 2 {
						side := (i + k) % 2 // 0 fp32, 1 int8
						st := [2]string{fp32, int8}[side]
						r, t := runStages(b, fmt.Sprintf("%s-%d-%d-%d", d.name, threads, i, side), src, st, frames)
						res[side], took[side] = r, took[side]+t
					}
					m, a, c := matchFrames(res[0], res[1])
					matched[0] += m
					dets[0] += a
					dets[1] += c
				}
				fps32 := float64((frames-1)*b.N) / took[0].Seconds()
				fps8 := float64((frames-1)*b.N) / took[1].Seconds()
				b.ReportMetric(fps32, "fp32_fps")
				b.ReportMetric(fps8, "int8_fps")
				b.ReportMetric(fps8/fps32, "ratio")
				b.ReportMetric(100*2*float64(matched[0])/float64(max(dets[0]+dets[1], 1)), "agree_%")
				b.ReportMetric(float64(dets[0])/float64(b.N*frames), "fp32_dets/frame")
			})
		}
	}
}

// withThreads sets the onnx stage's intra-op threads.
func withThreads(stages string, threads int) string {
	return strings.Replace(stages, "    type: onnx\n", fmt.Sprintf("    type: onnx\n    threads: %d\n", threads), 1)
}

// matchFrames matches two runs' detections frame by frame (same class,
// IoU >= 0.5) and returns the matches and both detection counts.
func matchFrames(a, b []result) (matched, na, nb int) {
	byFrame := map[uint64][]vision.Detection{}
	for _, r := range b {
		byFrame[r.frameID] = r.dets
	}
	for _, r := range a {
		other, ok := byFrame[r.frameID]
		if !ok {
			continue
		}
		matched += vision.Match(r.dets, other, 0.5)
		na += len(r.dets)
		nb += len(other)
	}
	return matched, na, nb
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
	int8Mu    sync.Mutex
	int8Paths = map[string]string{}
	int8Dir   string // removed by TestMain
)

// detectorInt8 quantises a mirror detector once per test binary exactly as
// `edgeflow model quantize FILE OUT --calib ../shared/media` does: the
// family's recipe, calibrated on quantize.DetectorCalibViews of the still
// images. The file goes to a temporary directory.
func detectorInt8(tb testing.TB, family, file string) string {
	tb.Helper()
	int8Mu.Lock()
	defer int8Mu.Unlock()
	if p, ok := int8Paths[family]; ok {
		return p
	}
	if err := edgemodels.Init(""); err != nil {
		tb.Fatal(err)
	}
	m, err := graph.Load(models + "/" + file)
	if err != nil {
		tb.Fatal(err)
	}
	views, err := visioneval.ParseViews(quantize.DetectorCalibViews)
	if err != nil {
		tb.Fatal(err)
	}
	samples, err := visioneval.LoadImages(media, visioneval.ImageOptions{Preprocess: visioneval.Presets[family], Width: 416, Height: 416, Views: views})
	if err != nil {
		tb.Fatal(err)
	}
	calib := make([][]edgemodels.Tensor, len(samples))
	for i, s := range samples {
		calib[i] = s.Inputs
	}
	opts, err := quantize.Recipe(family)
	if err != nil {
		tb.Fatal(err)
	}
	q, rep, err := quantize.Static(m, quantize.FromSamples(calib), opts)
	if err != nil {
		tb.Fatalf("quantise %s: %v", file, err)
	}
	tb.Log(rep)
	if int8Dir == "" {
		if int8Dir, err = os.MkdirTemp("", "edgeflow-camera-int8-"); err != nil {
			tb.Fatal(err)
		}
	}
	path := filepath.Join(int8Dir, family+".int8.onnx")
	if err := graph.Save(path, q); err != nil {
		tb.Fatal(err)
	}
	int8Paths[family] = path
	return path
}
