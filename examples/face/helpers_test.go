//go:build gocv

package face_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/edgeflow/edgeflow/component"
	"github.com/edgeflow/edgeflow/config"
	"github.com/edgeflow/edgeflow/examples/face"
	edgemodels "github.com/edgeflow/edgeflow/models"
	"github.com/edgeflow/edgeflow/models/graph"
	"github.com/edgeflow/edgeflow/models/quantize"
	"github.com/edgeflow/edgeflow/models/tflite"
	"github.com/edgeflow/edgeflow/pipeline"
	"github.com/edgeflow/edgeflow/vision"
	"github.com/rs/zerolog"
	"go.uber.org/goleak"
	"gocv.io/x/gocv"

	_ "github.com/edgeflow/edgeflow/sinks/mqtt"
	_ "github.com/edgeflow/edgeflow/sources/camera"
	_ "github.com/edgeflow/edgeflow/stages/detect"
	_ "github.com/edgeflow/edgeflow/stages/image"
	_ "github.com/edgeflow/edgeflow/stages/onnx"
)

const (
	media      = "../../../shared/media"
	shortRange = "../../.cache/models/npm/mediapipe-face_detection/face_detection_short_range.tflite"
	// framesPerShot frames of each of face.Shots make the test video.
	framesPerShot = 60
	fp32Name      = "face_detection_short_range.onnx"
	int8Name      = "face_detection_short_range.int8.onnx"
)

// fixture is the test video and the converted fp32 and int8 models, made
// once per test binary in a temporary directory.
type fixture struct {
	dir, video string
	err        error
}

var (
	fixOnce sync.Once
	fix     fixture
)

func TestMain(m *testing.M) {
	code := m.Run()
	if fix.dir != "" {
		os.RemoveAll(fix.dir)
	}
	if code == 0 {
		if n := liveMats(); n > 0 {
			fmt.Fprintf(os.Stderr, "FAIL: %d OpenCV Mats leaked (matprofile)\n", n)
			code = 1
		}
		if err := goleak.Find(); err != nil {
			fmt.Fprintf(os.Stderr, "FAIL: leaked goroutines: %v\n", err)
			code = 1
		}
	}
	os.Exit(code)
}

// prepare makes the video, converts face_detection_short_range.tflite and
// quantises it (static int8, per-channel, edgeflow's defaults) calibrated
// on every 10th frame of the video, letterboxed as the image stage does.
func prepare(tb testing.TB) fixture {
	tb.Helper()
	if _, err := os.Stat(shortRange); err != nil {
		tb.Fatalf("%v: run `make deps`, which fetches the MediaPipe models", err)
	}
	fixOnce.Do(func() { fix = makeFixture() })
	if fix.err != nil {
		tb.Fatal(fix.err)
	}
	return fix
}

func makeFixture() (f fixture) {
	if f.dir, f.err = os.MkdirTemp("", "edgeflow-face-"); f.err != nil {
		return f
	}
	f.video = filepath.Join(f.dir, "faces.avi")
	if f.err = face.MakeVideo(media, f.video, 320, framesPerShot); f.err != nil {
		return f
	}
	fp32 := filepath.Join(f.dir, fp32Name)
	if _, f.err = tflite.ConvertFile(shortRange, fp32); f.err != nil {
		return f
	}
	if f.err = edgemodels.Init(""); f.err != nil {
		return f
	}
	m, err := graph.Load(fp32)
	if err != nil {
		f.err = err
		return f
	}
	samples, err := videoSamples(f.video, 10)
	if err != nil {
		f.err = err
		return f
	}
	q, _, err := quantize.Static(m, quantize.FromSamples(samples), quantize.Options{})
	if err != nil {
		f.err = fmt.Errorf("quantise: %w", err)
		return f
	}
	f.err = graph.Save(filepath.Join(f.dir, int8Name), q)
	return f
}

// videoSamples reads every step-th frame as a BlazeFace input.
func videoSamples(path string, step int) ([][]edgemodels.Tensor, error) {
	vc, err := gocv.VideoCaptureFile(path)
	if err != nil {
		return nil, err
	}
	defer vc.Close()
	img := gocv.NewMat()
	defer img.Close()
	var out [][]edgemodels.Tensor
	for i := 0; vc.Read(&img); i++ {
		if i%step != 0 {
			continue
		}
		rgb, err := img.ToImage()
		if err != nil {
			return nil, err
		}
		lb, err := vision.FitLetterbox(rgb.Bounds().Dx(), rgb.Bounds().Dy(), 128, 128, vision.Center)
		if err != nil {
			return nil, err
		}
		out = append(out, []edgemodels.Tensor{{Shape: []int64{1, 128, 128, 3}, Data: vision.NHWC(rgb, lb, 127.5, 127.5, 0)}})
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: no frames", path)
	}
	return out, nil
}

// frameResult is what the collect sink saw of one frame.
type frameResult struct {
	frame   uint64
	dets    []vision.Detection
	arrived time.Time
}

type collector struct {
	mu  sync.Mutex
	got []frameResult
}

func (c *collector) Write(_ context.Context, m *pipeline.Message) error {
	r := frameResult{arrived: time.Now()}
	r.dets, _ = m.Fields["detections"].([]vision.Detection)
	r.frame, _ = m.Fields["frame_id"].(uint64)
	c.mu.Lock()
	c.got = append(c.got, r)
	c.mu.Unlock()
	return nil
}

var (
	collectorsMu sync.Mutex
	collectors   = map[string]*collector{}
)

func init() {
	component.Register(component.Spec{Kind: pipeline.KindSink, Name: "test_faces", Summary: "test sink",
		Fields: []component.Field{{Name: "name", Type: component.String}},
		New: func(conf *component.Config, _ *component.Resources) (any, error) {
			collectorsMu.Lock()
			defer collectorsMu.Unlock()
			c := &collector{}
			collectors[conf.String("name")] = c
			return c, nil
		}})
}

// runVideo runs camera (every frame, as fast as it decodes) -> the
// example's stages with model -> a collector over the whole video, and
// returns the results per frame and the time from the first result to the
// last, which covers all frames but the first (the first waits for the
// model to load).
func runVideo(tb testing.TB, name, video, model string) ([]frameResult, time.Duration) {
	tb.Helper()
	yaml := fmt.Sprintf(`name: %[1]s
sources:
  cam:
    type: camera
    id: door
    file: %[2]s
    realtime: false
    keep_latest: false
    max_in_flight: 1
stages:
  prep:
    type: image
    input: cam
    width: 128
    height: 128
    resize: letterbox
    align: center
    pad: [0]
    color: rgb
    layout: nhwc
    mean: [127.5]
    std: [127.5]
    output: input
  infer:
    type: onnx
    input: prep
    model: %[3]s
    inputs: {input: input}
    outputs: {regressors: regressors, classificators: classificators}
    threads: 1
  detect:
    type: detect
    input: infer
    model: blazeface
    outputs: [regressors, classificators]
    threshold: 0.5
    iou: 0.3
    keep: [camera, frame_id]
sinks:
  out:
    type: test_faces
    input: detect
    name: %[1]s
`, name, video, model)
	f, err := config.Parse([]byte(yaml), "test.yaml")
	if err != nil {
		tb.Fatal(err)
	}
	b, err := f.Build(context.Background(), config.BuildOptions{Logger: zerolog.New(zerolog.NewTestWriter(tb)).Level(zerolog.WarnLevel)})
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	err = b.Pipeline.Run(ctx)
	if cerr := b.Close(context.Background()); cerr != nil {
		tb.Error(cerr)
	}
	if err != nil {
		tb.Fatal(err)
	}
	collectorsMu.Lock()
	c := collectors[name]
	collectorsMu.Unlock()
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.got) < 2 {
		tb.Fatalf("%s: %d results", name, len(c.got))
	}
	return append([]frameResult(nil), c.got...), c.got[len(c.got)-1].arrived.Sub(c.got[0].arrived)
}
