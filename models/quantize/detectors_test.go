package quantize_test

import (
	"math"
	"path/filepath"
	"testing"

	"github.com/edgeflow/edgeflow/models"
	"github.com/edgeflow/edgeflow/models/compare"
	"github.com/edgeflow/edgeflow/models/graph"
	"github.com/edgeflow/edgeflow/models/modeltest"
	"github.com/edgeflow/edgeflow/models/quantize"
	visioneval "github.com/edgeflow/edgeflow/vision/eval"
)

// sharedMedia is the mirror's media folder next to its models.
func sharedMedia(t testing.TB) (modelsDir, mediaDir string) {
	t.Helper()
	dir := modeltest.SharedModels()
	if dir == "" {
		t.Skip("skipping: no model mirror at ../shared/models (set EDGEFLOW_SHARED_MODELS)")
	}
	return dir, filepath.Join(filepath.Dir(dir), "media")
}

// Calibration and evaluation see different views of the mirror's images:
// the quantiser is calibrated on four corner crops and a centre crop and
// judged on the whole images and their mirror images, which it never saw.
const (
	calibViews = "crop0.6-tl,crop0.6-tr,crop0.6-bl,crop0.6-br,crop0.75"
	evalViews  = "full,mirror"
)

func images(t testing.TB, media string, tc detectorCase, views string) []compare.Sample {
	t.Helper()
	v, err := visioneval.ParseViews(views)
	if err != nil {
		t.Fatal(err)
	}
	s, err := visioneval.LoadImages(media, visioneval.ImageOptions{Preprocess: visioneval.Presets[tc.detector], Width: tc.width, Height: tc.height, Views: v})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func calibrator(samples []compare.Sample) quantize.Calibrator {
	in := make([][]models.Tensor, len(samples))
	for i, s := range samples {
		in[i] = s.Inputs
	}
	return quantize.FromSamples(in)
}

// detectorCase is a mirror detector, quantised with its family's recipe
// (quantize.Recipe, what `edgeflow model quantize` uses by default).
type detectorCase struct {
	file, detector string
	width, height  int
}

var detectorCases = []detectorCase{
	{"yolox_nano.onnx", quantize.YOLOX, 416, 416},
	{"nanodet_m_416.onnx", quantize.NanoDet, 416, 416},
	{"ultraface_rfb_320.onnx", quantize.UltraFace, 320, 240},
}

// agreementFloor is the target: int8 finds the same objects as
// fp32 (2·matched / (fp32 + int8 detections)) on at least 95%.
const agreementFloor = 0.95

// knownGaps are the detector/test-set pairs whose recipe does not reach
// agreementFloor yet (issue 19; figures in BENCHMARKS.md, "int8
// detectors"). They are held at a regression floor instead, set below the
// measured value by enough for another CPU family's int8 rounding (a
// detection or two on these small sets), and every run logs the gap. Raise
// or delete an entry when the recipe improves. Measured on AMD EPYC
// (AVX-512 VNNI) and an Intel Xeon with AMX-INT8: the still views gave the
// same detections on both.
var knownGaps = map[string]float64{
	"yolox/held-out image views": 0.90, // 94.3% (25 of 27 fp32 detections), both CPUs
	// 90.0% (36 of 40 fp32 detections, 40 int8) on AMD EPYC (Zen 5) since
	// NanoDet's recipe keeps its stem float (FloatStem; 81.5%, 33 of 40,
	// before); the floor is two detections below. Its video frames (97.1%
	// with the float stem, 94.8% before) now meet agreementFloor.
	"nanodet/held-out image views": 0.85,
}

// ran counts the subtests of a test that did not skip; a test whose
// subtests all skip fails, so that a missing model or decoder cannot turn
// the agreement checks into a silent pass.
type ran struct{ n int }

func (r *ran) run(t *testing.T, name string, f func(t *testing.T)) {
	t.Helper()
	t.Run(name, func(t *testing.T) {
		f(t)
		if !t.Skipped() {
			r.n++
		}
	})
}

func (r *ran) check(t *testing.T) {
	t.Helper()
	if r.n == 0 {
		t.Fatal("every subtest skipped: nothing was checked")
	}
}

// quantizeDetector quantises a mirror detector with calibration on the
// calibration views and returns the fp32 and int8 file paths.
func quantizeDetector(t *testing.T, dir, media string, tc detectorCase, calib []compare.Sample) (src, out string) {
	t.Helper()
	src = filepath.Join(dir, tc.file)
	m, err := graph.Load(src)
	if err != nil {
		t.Fatal(err)
	}
	opts, err := quantize.Recipe(tc.detector)
	if err != nil {
		t.Fatal(err)
	}
	q, rep, err := quantize.Static(m, calibrator(calib), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Log(rep)
	t.Log(rep.KernelCheck)
	return src, writeModel(t, q, "int8.onnx")
}

// agreement compares the int8 model with fp32 on samples, logs the result
// with a 95% confidence interval for the recall (the share of fp32
// detections int8 finds; Wilson score interval) and checks the floor and
// the 35% size limit.
func agreement(t *testing.T, src, out, detector, set string, samples []compare.Sample, floor float64) *compare.Result {
	t.Helper()
	res, err := compare.Files(src, out, samples, compare.Options{Task: visioneval.Detect{Decoder: detector}})
	if err != nil {
		t.Fatal(err)
	}
	det := res.Verdict.(*visioneval.Detections)
	lo, hi := wilson(det.Matched, det.A)
	t.Logf("%s on %s (%d samples): size %.1f%%, speed-up %.2fx, rel RMSE %.1f%%, detections %d/%d, matched %d, agreement %.1f%%, recall %.1f%% (95%% CI %.0f–%.0f%%); %d disagreements, %d of them scored within %.2f of the threshold",
		detector, set, res.Samples, 100*res.SizeRatio, res.Speedup, 100*res.RelRMSE, det.A, det.B, det.Matched,
		100*res.Agreement, 100*det.Recall(), 100*lo, 100*hi, det.A+det.B-2*det.Matched, det.Near, visioneval.NearMargin)
	if det.A < 5 {
		t.Fatalf("fp32 finds only %d objects on %s; the comparison would mean nothing", det.A, set)
	}
	if gap, ok := knownGaps[detector+"/"+set]; ok && floor == agreementFloor {
		if res.Agreement < floor {
			t.Logf("known gap: %s on %s agrees on %.1f%%, below the %.0f%% target; held at %.0f%%",
				detector, set, 100*res.Agreement, 100*floor, 100*gap)
		}
		floor = gap
	}
	if res.Agreement < floor {
		t.Errorf("%s int8 agrees with fp32 on %.1f%% of detections on %s (%d matched of %d fp32 and %d int8 detections, recall %.1f%%), want >= %.0f%%",
			detector, 100*res.Agreement, set, det.Matched, det.A, det.B, 100*det.Recall(), 100*floor)
	}
	if res.SizeRatio > 0.35 {
		t.Errorf("%s int8 file is %.1f%% of fp32, want <= 35%%", detector, 100*res.SizeRatio)
	}
	return res
}

// wilson is the 95% Wilson score interval of k successes in n trials.
func wilson(k, n int) (lo, hi float64) {
	if n == 0 {
		return 0, 1
	}
	const z = 1.96
	p, nf := float64(k)/float64(n), float64(n)
	c := (p + z*z/(2*nf)) / (1 + z*z/nf)
	h := z * math.Sqrt(p*(1-p)/nf+z*z/(4*nf*nf)) / (1 + z*z/nf)
	return max(0, c-h), min(1, c+h)
}

// TestDetectorsInt8 quantises the mirror's fp32 detectors with their
// recipes, calibrated on crops of the real images, and checks that int8
// finds the same objects on the whole and mirrored images (held out from
// calibration), in a file at most 35% of the original's size, that ORT
// fuses. Measured figures: BENCHMARKS.md ("int8 detectors").
func TestDetectorsInt8(t *testing.T) {
	modeltest.RequireRuntime(t)
	dir, media := sharedMedia(t)
	var r ran
	for _, tc := range detectorCases {
		r.run(t, tc.detector, func(t *testing.T) {
			src, out := quantizeDetector(t, dir, media, tc, images(t, media, tc, calibViews))
			agreement(t, src, out, tc.detector, "held-out image views", images(t, media, tc, evalViews), agreementFloor)
			q, err := graph.Load(out)
			if err != nil {
				t.Fatal(err)
			}
			ops := optimizedOps(t, q)
			t.Log(ops)
			if ops["QLinearConv"] < 40 {
				t.Errorf("ORT fused only %d convolutions into QLinearConv", ops["QLinearConv"])
			}
		})
	}
	r.check(t)
}

func TestWilson(t *testing.T) {
	lo, hi := wilson(24, 27)
	if lo < 0.70 || lo > 0.74 || hi < 0.95 || hi > 0.98 {
		t.Errorf("wilson(24, 27) = %.3f, %.3f, want about 0.72, 0.96", lo, hi)
	}
	if lo, hi := wilson(0, 0); lo != 0 || hi != 1 {
		t.Errorf("wilson(0, 0) = %v, %v, want 0, 1", lo, hi)
	}
}
