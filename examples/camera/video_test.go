//go:build gocv

package camera_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"image"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	edgemodels "github.com/edgeflow/edgeflow/models"
	"github.com/edgeflow/edgeflow/sources/camera"
	"github.com/edgeflow/edgeflow/vision"
	ort "github.com/yalue/onnxruntime_go"
	"gocv.io/x/gocv"
)

// plainLoop is the baseline: gocv capture, the same letterbox and blob as
// the image stage (Resize, CopyMakeBorder, BlobFromImage), a plain
// onnxruntime_go session with preallocated tensors, and the same decoder.
// One frame is in flight: read, preprocess, infer, decode, then the next.
// It returns the people per frame for the first n frames, and the time
// frames 1..n-1 took (from the end of frame 0, which warms ORT up, to the
// end of frame n-1). The session
// has the onnx stage's default options (ORT's thread counts, every graph
// optimisation, sequential, no spinning).
func plainLoop(tb testing.TB, model string, n int) ([]int, time.Duration) {
	tb.Helper()
	counts, took, _ := plainLoopWith(tb, model, n, false)
	return counts, took
}

// plainLoopWith is plainLoop with ORT's thread spinning on or off, as the
// onnx stage's `spinning` sets it; it also returns how long each timed
// frame took.
func plainLoopWith(tb testing.TB, model string, n int, spinning bool) ([]int, time.Duration, []time.Duration) {
	tb.Helper()
	if err := edgemodels.Init(""); err != nil {
		tb.Fatal(err)
	}
	vc, err := gocv.VideoCaptureFile(media + "/vtest.avi")
	if err != nil {
		tb.Fatal(err)
	}
	defer vc.Close()
	img, resized, padded, blob := gocv.NewMat(), gocv.NewMat(), gocv.NewMat(), gocv.NewMat()
	defer func() {
		for _, m := range []*gocv.Mat{&img, &resized, &padded, &blob} {
			m.Close()
		}
	}()
	in, err := ort.NewEmptyTensor[float32](ort.NewShape(1, 3, 416, 416))
	if err != nil {
		tb.Fatal(err)
	}
	defer in.Destroy()
	out, err := ort.NewEmptyTensor[float32](ort.NewShape(1, 3549, 85))
	if err != nil {
		tb.Fatal(err)
	}
	defer out.Destroy()
	so, err := ort.NewSessionOptions()
	if err != nil {
		tb.Fatal(err)
	}
	defer so.Destroy()
	if err := so.SetGraphOptimizationLevel(ort.GraphOptimizationLevelEnableAll); err != nil {
		tb.Fatal(err)
	}
	if err := so.SetExecutionMode(ort.ExecutionModeSequential); err != nil {
		tb.Fatal(err)
	}
	if !spinning {
		for _, key := range []string{"session.intra_op.allow_spinning", "session.inter_op.allow_spinning"} {
			if err := so.AddSessionConfigEntry(key, "0"); err != nil {
				tb.Fatal(err)
			}
		}
	}
	sess, err := ort.NewAdvancedSession(model, []string{"images"}, []string{"output"},
		[]ort.Value{in}, []ort.Value{out}, so)
	if err != nil {
		tb.Fatal(err)
	}
	defer sess.Destroy()
	post := vision.Postprocess{Decoder: vision.YOLOX{}, Threshold: 0.35, IoU: 0.45, Labels: vision.COCO80, MaxDetections: 100}
	counts := make([]int, 0, n)
	each := make([]time.Duration, 0, n)
	var start, last time.Time
	for len(counts) < n && vc.Read(&img) {
		lb, _ := vision.FitLetterbox(img.Cols(), img.Rows(), 416, 416, vision.TopLeft)
		w, h := lb.Resized()
		gocv.Resize(img, &resized, image.Pt(w, h), 0, 0, gocv.InterpolationLinear)
		gocv.CopyMakeBorder(resized, &padded, 0, 416-h, 0, 416-w, gocv.BorderConstant, colorGrey)
		gocv.BlobFromImages([]gocv.Mat{padded}, &blob, 1, image.Pt(416, 416), gocv.NewScalar(0, 0, 0, 0), false, false, gocv.MatTypeCV32F)
		data, _ := blob.DataPtrFloat32()
		copy(in.GetData(), data)
		if err := sess.Run(); err != nil {
			tb.Fatal(err)
		}
		dets, err := post.Run([]vision.Tensor{{Shape: []int64{1, 3549, 85}, Data: out.GetData()}}, lb)
		if err != nil {
			tb.Fatal(err)
		}
		counts = append(counts, people(dets))
		// Frame 0 warms ORT up; the clock starts when it is done, so each
		// timed frame is a whole cycle (read to decoded), as the time
		// between two results of the pipeline is.
		now := time.Now()
		if len(counts) == 1 {
			start = now
		} else {
			each = append(each, now.Sub(last))
		}
		last = now
	}
	return counts, last.Sub(start), each
}

func people(dets []vision.Detection) int {
	n := 0
	for _, d := range dets {
		if d.Class == "person" {
			n++
		}
	}
	return n
}

// runVideo runs the YOLOX pipeline (model) on vtest.avi with every frame
// kept and at most inFlight frames in the pipeline, until n results have
// arrived. It returns the people per frame id and the time between the
// first and the last result (n-1 frames; the first warms ORT up).
func runVideo(tb testing.TB, name, model string, inFlight, n int) (map[uint64]int, time.Duration) {
	tb.Helper()
	src := fmt.Sprintf("    id: street\n    file: %s/vtest.avi\n    keep_latest: false\n    realtime: false\n    max_in_flight: %d", media, inFlight)
	b := build(tb, strings.Replace(detectorYAML(src, name), models+"/yolox_nano.onnx", model, 1))
	c, took := runUntil(tb, b, name, n)
	counts := map[uint64]int{}
	for _, r := range c.all() {
		if r.key != "street" {
			tb.Errorf("result keyed %q, want the camera id", r.key)
		}
		counts[r.frameID] = people(r.dets)
	}
	return counts, took
}

func TestVideoPeopleInEveryFrameMatchReference(t *testing.T) {
	need(t, media+"/vtest.avi")
	const frames = 40
	want, _ := plainLoop(t, models+"/yolox_nano.onnx", frames)
	got, _ := runVideo(t, "vtest", models+"/yolox_nano.onnx", 2, frames)
	if len(got) < frames {
		t.Fatalf("pipeline delivered %d frames, want %d", len(got), frames)
	}
	for id := range uint64(frames) {
		g, ok := got[id]
		if !ok {
			t.Errorf("frame %d missing", id)
			continue
		}
		if g == 0 {
			t.Errorf("frame %d: no people found", id)
		}
		// Same preprocessing and decoder: counts should agree; allow one
		// for float differences between the two ORT sessions.
		if d := g - want[id]; d < -1 || d > 1 {
			t.Errorf("frame %d: %d people, reference run found %d", id, g, want[id])
		}
	}
	// The media README: YOLOX-Nano finds about 4–9 people per frame.
	if mean := float64(sum(want)) / frames; mean < 3 || mean > 10 {
		t.Errorf("reference run averages %.1f people per frame", mean)
	}
}

func sum(v []int) int {
	s := 0
	for _, x := range v {
		s += x
	}
	return s
}

// With a detector (300ms) three times slower than the camera (10 fps), the
// camera drops frames at the source: latency stays near one or two detector
// times instead of growing, and the drops are counted.
func TestSlowDetectorBoundedLatency(t *testing.T) {
	need(t, media+"/vtest.avi")
	const detector = 300 * time.Millisecond
	b := build(t, fmt.Sprintf(`name: slow
sources:
  cam:
    type: camera
    id: street
    file: %s/vtest.avi
    loop: true
stages:
  prep:
    type: image
    input: cam
    width: 416
    height: 416
  slow:
    type: test_sleep
    input: prep
    delay: %s
sinks:
  out:
    type: test_collect
    input: slow
    name: slow
`, media, detector))
	cam := b.Components["cam"].(*camera.Camera)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Second)
	defer cancel()
	if err := run(t, b, ctx); err != nil {
		t.Fatal(err)
	}
	res := collectorNamed("slow").all()
	if len(res) < 6 {
		t.Fatalf("only %d frames went through in 4s", len(res))
	}
	var lat []time.Duration
	for _, r := range res[1:] { // the first waits for the model-free warm-up too
		lat = append(lat, r.arrived.Sub(r.captured))
	}
	slices.Sort(lat)
	worst := lat[len(lat)-1]
	t.Logf("%d frames, latency p50 %v max %v", len(res), lat[len(lat)/2], worst)
	if limit := 2*detector + 200*time.Millisecond; worst > limit {
		t.Errorf("capture-to-sink latency reached %v, want at most about two detector times (%v)", worst, limit)
	}
	st := cam.Stats()
	captured, emitted, skipped := st.Captured.Load(), st.Emitted.Load(), st.Skipped.Load()
	t.Logf("captured %d emitted %d skipped %d", captured, emitted, skipped)
	if skipped < emitted {
		t.Errorf("skipped %d frames, want more than emitted (%d): the camera is 3× faster than the detector", skipped, emitted)
	}
	if d := int64(captured) - int64(emitted+skipped); d < 0 || d > 2 {
		t.Errorf("captured %d != emitted %d + skipped %d (±1 in the slot)", captured, emitted, skipped)
	}
	if skipped == 0 {
		t.Fatal("nothing skipped")
	}
	checkCameraMetrics(t, b, cam)
}

func TestCorruptVideoRetriesThenFails(t *testing.T) {
	dir := t.TempDir()
	junk := filepath.Join(dir, "junk.avi")
	if err := os.WriteFile(junk, []byte(strings.Repeat("not a video ", 1000)), 0o644); err != nil {
		t.Fatal(err)
	}
	b := build(t, fmt.Sprintf(`name: junk
sources:
  cam:
    type: camera
    file: %s
    reconnect: {min_backoff: 10ms, max_backoff: 40ms, max_attempts: 3}
sinks:
  out: {type: test_collect, input: cam, name: junk}
`, junk))
	cam := b.Components["cam"].(*camera.Camera)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err := run(t, b, ctx)
	if err == nil || !strings.Contains(err.Error(), "giving up after 3 attempts") || !strings.Contains(err.Error(), "junk.avi") {
		t.Fatalf("err = %v, want a clear give-up error naming the file", err)
	}
	if n := cam.Stats().OpenFailures.Load(); n != 3 {
		t.Errorf("%d open failures counted, want 3", n)
	}
}

func TestTruncatedVideoEndsCleanly(t *testing.T) {
	need(t, media+"/vtest.avi")
	data, err := os.ReadFile(media + "/vtest.avi")
	if err != nil {
		t.Fatal(err)
	}
	cut := filepath.Join(t.TempDir(), "cut.avi")
	if err := os.WriteFile(cut, data[:len(data)/4], 0o644); err != nil {
		t.Fatal(err)
	}
	b := build(t, fmt.Sprintf(`name: cut
sources:
  cam:
    type: camera
    file: %s
    realtime: false
    keep_latest: false
sinks:
  out: {type: test_collect, input: cam, name: cut}
`, cut))
	cam := b.Components["cam"].(*camera.Camera)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := run(t, b, ctx); err != nil {
		t.Fatalf("a truncated file should end the source cleanly: %v", err)
	}
	n := len(collectorNamed("cut").all())
	total, whole := aviFrames(t, data, len(data)/4)
	t.Logf("%d frames decoded from a quarter of the file, which holds %d of its %d frames whole", n, whole, total)
	// Every whole frame, and perhaps the one the cut goes through.
	if total != 795 || n < whole || n > whole+1 {
		t.Errorf("%d frames from the %d whole frames (of %d) in the first quarter", n, whole, total)
	}
	if cam.Stats().Captured.Load() != uint64(n) {
		t.Errorf("captured %d, delivered %d (no frame may be dropped with keep_latest off)", cam.Stats().Captured.Load(), n)
	}
}

// aviFrames walks the RIFF chunks of an AVI file's movi list and counts its
// video frames (##dc chunks), and those that end within the first limit
// bytes.
func aviFrames(t *testing.T, data []byte, limit int) (total, whole int) {
	t.Helper()
	i := bytes.Index(data, []byte("movi"))
	if i < 0 {
		t.Fatal("no movi list in the AVI file")
	}
	for pos := i + 4; pos+8 <= len(data); {
		id, size := string(data[pos:pos+4]), int(binary.LittleEndian.Uint32(data[pos+4:pos+8]))
		switch {
		case id == "idx1":
			return total, whole
		case id == "LIST": // a rec list: its chunks follow
			pos += 12
			continue
		case strings.HasSuffix(id, "dc"):
			total++
			if pos+8+size <= limit {
				whole++
			}
		}
		pos += 8 + size + size&1
	}
	return total, whole
}

func TestUnreachableStreamRetries(t *testing.T) {
	// Port 9 on loopback: nothing listens, the connection is refused at once.
	b := build(t, `name: rtsp
sources:
  cam:
    type: camera
    url: rtsp://127.0.0.1:9/stream
    reconnect: {min_backoff: 20ms, max_backoff: 100ms}
sinks:
  out: {type: test_collect, input: cam, name: rtsp}
`)
	cam := b.Components["cam"].(*camera.Camera)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if err := run(t, b, ctx); err != nil {
		t.Fatalf("retrying forever should end cleanly on stop: %v", err)
	}
	if n := cam.Stats().OpenFailures.Load(); n < 2 {
		t.Errorf("%d failed attempts in 3s, want retries", n)
	}
	checkCameraMetrics(t, b, cam)
	if n := len(collectorNamed("rtsp").all()); n != 0 {
		t.Errorf("%d frames from nowhere", n)
	}

	b = build(t, `name: rtsp2
sources:
  cam:
    type: camera
    url: rtsp://127.0.0.1:9/stream
    reconnect: {min_backoff: 10ms, max_attempts: 2}
sinks:
  out: {type: test_collect, input: cam, name: rtsp2}
`)
	err := run(t, b, context.Background())
	if err == nil || !strings.Contains(err.Error(), "rtsp://127.0.0.1:9/stream") || !strings.Contains(err.Error(), "giving up") {
		t.Fatalf("err = %v, want a give-up error naming the URL", err)
	}
}
