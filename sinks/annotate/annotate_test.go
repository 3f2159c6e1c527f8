//go:build gocv

package annotate

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/edgeflow/edgeflow/component"
	"github.com/edgeflow/edgeflow/pipeline"
	"github.com/edgeflow/edgeflow/vision"
	"github.com/edgeflow/edgeflow/vision/frame"
	dto "github.com/prometheus/client_model/go"
	"github.com/rs/zerolog"
	"go.uber.org/goleak"
	"go.yaml.in/yaml/v3"
	"gocv.io/x/gocv"
)

func TestMain(m *testing.M) {
	code := m.Run()
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

func newTestSink(t *testing.T, yml string) *Sink {
	t.Helper()
	spec, _ := component.Lookup(pipeline.KindSink, "annotate")
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(yml), &doc); err != nil {
		t.Fatal(err)
	}
	conf, errs := component.Parse(spec.Fields, doc.Content[0], "t.yaml", "sinks.x", nil)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	s, err := spec.New(conf, &component.Resources{Logger: zerolog.Nop(), Node: "x", Pipeline: "t"})
	if err != nil {
		t.Fatal(err)
	}
	return s.(*Sink)
}

// grey returns a 200×100 mid-grey frame (the caller's one reference).
func grey(id uint64) *frame.Frame {
	m := gocv.NewMatWithSizeFromScalar(gocv.NewScalar(128, 128, 128, 0), 100, 200, gocv.MatTypeCV8UC3)
	return frame.New(m, "cam/1", id, time.Now())
}

func message(f *frame.Frame, dets []vision.Detection) *pipeline.Message {
	m := pipeline.NewMessage(nil)
	m.Fields = map[string]any{"frame": f, "detections": dets}
	return m
}

// count reads the frames counter of one result.
func count(s *Sink, result string) float64 {
	var m dto.Metric
	if err := s.metrics.frames.WithLabelValues(result).Write(&m); err != nil {
		panic(err)
	}
	return m.GetCounter().GetValue()
}

func drawn(s *Sink) float64 { return count(s, "drawn") }

// The sink holds its own reference: the message's is dropped right after
// Write (as when the camera settles it), and the frame is still drawn and
// written; the Mat is closed once the sink is done with it (TestMain
// counts Mats under matprofile).
func TestFrameOutlivesItsMessage(t *testing.T) {
	dir := t.TempDir()
	s := newTestSink(t, "dir: "+dir+"\ncolor: [0, 255, 0]\nthickness: 3\n")
	f := grey(7)
	dets := []vision.Detection{{Class: "car", Score: 0.9, Box: vision.Box{X1: 40, Y1: 30, X2: 160, Y2: 90}}}
	if err := s.Write(context.Background(), message(f, dets)); err != nil {
		t.Fatal(err)
	}
	f.Release() // the message is settled; the sink's reference keeps the Mat
	if err := s.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	img := gocv.IMRead(filepath.Join(dir, "cam_1-000000007.jpg"), gocv.IMReadColor)
	defer img.Close()
	if img.Empty() {
		t.Fatal("no JPEG written")
	}
	if v := img.GetVecbAt(60, 40); v[1] < 200 || v[0] > 60 || v[2] > 60 {
		t.Errorf("left edge pixel %v, want green", v)
	}
	if v := img.GetVecbAt(60, 100); v[1] > 150 {
		t.Errorf("box centre %v, want the grey of the frame", v)
	}
}

// every: 2, keep: 2 over ten frames of one camera: frames 0, 2, 4, 6, 8 are
// drawn, and only the files of 6 and 8 remain.
func TestEveryAndKeep(t *testing.T) {
	dir := t.TempDir()
	s := newTestSink(t, "dir: "+dir+"\nevery: 2\nkeep: 2\n")
	for id := range uint64(10) {
		f := grey(id)
		want := drawn(s) + 1
		if err := s.Write(context.Background(), message(f, nil)); err != nil {
			t.Fatal(err)
		}
		f.Release()
		if id%2 == 0 {
			for deadline := time.Now().Add(30 * time.Second); drawn(s) < want && time.Now().Before(deadline); {
				time.Sleep(time.Millisecond)
			}
		}
	}
	if err := s.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := drawn(s); n != 5 {
		t.Errorf("%v frames drawn, want 5", n)
	}
	if n := count(s, "idle"); n != 5 {
		t.Errorf("%v frames idle, want 5", n)
	}
	names, _ := filepath.Glob(filepath.Join(dir, "*"))
	for i := range names {
		names[i] = filepath.Base(names[i])
	}
	if want := []string{"cam_1-000000006.jpg", "cam_1-000000008.jpg"}; !slices.Equal(names, want) {
		t.Errorf("files %v, want %v", names, want)
	}
}

// A burst while the worker is busy: frames are replaced in the mailbox,
// counted as dropped, and every one of them is released. The worker is
// held back (not started) during the burst, so exactly the newest frame is
// drawn and the other 49 are dropped; a second burst with the worker
// running draws and drops them all between them.
func TestBurstDropsOldFrames(t *testing.T) {
	s := newTestSink(t, "dir: "+t.TempDir()+"\nkeep: 0\n")
	s.startOnce.Do(func() {}) // Write must not start the worker yet
	const n = 50
	burst := func(first uint64) {
		for id := first; id < first+n; id++ {
			f := grey(id)
			if err := s.Write(context.Background(), message(f, nil)); err != nil {
				t.Fatal(err)
			}
			f.Release()
		}
	}
	burst(0)
	if d, dropped := drawn(s), count(s, "dropped"); d != 0 || dropped != n-1 {
		t.Fatalf("worker held back: drawn %v, dropped %v; want 0 and %d", d, dropped, n-1)
	}
	s.start()
	for deadline := time.Now().Add(30 * time.Second); drawn(s) < 1 && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
	}
	if d := drawn(s); d != 1 {
		t.Fatalf("drawn %v after the worker started, want the newest frame only", d)
	}
	burst(n)
	if err := s.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	d, dropped := drawn(s), count(s, "dropped")
	t.Logf("drawn %v dropped %v", d, dropped)
	if d+dropped != 2*n || d < 2 || dropped < n-1 {
		t.Errorf("drawn %v + dropped %v, want %d in all, at least one drawn per burst", d, dropped, 2*n)
	}
}

func TestBadMessages(t *testing.T) {
	s := newTestSink(t, "dir: "+t.TempDir()+"\n")
	defer s.Close(context.Background())
	m := pipeline.NewMessage(nil)
	m.Fields = map[string]any{"detections": []vision.Detection{}}
	if err := s.Write(context.Background(), m); err == nil || !strings.Contains(err.Error(), "keep the frame") {
		t.Errorf("no frame: err = %v", err)
	}
	f := grey(1)
	defer f.Release()
	m.Fields = map[string]any{"frame": f, "detections": 3}
	if err := s.Write(context.Background(), m); err == nil || !strings.Contains(err.Error(), "want detections") {
		t.Errorf("bad detections: err = %v", err)
	}
	// After a JSON round trip the detections are maps: still drawn.
	m.Fields = map[string]any{"frame": f, "detections": []any{map[string]any{"class": "car", "score": 0.5,
		"box": map[string]any{"x1": 1.0, "y1": 1.0, "x2": 5.0, "y2": 5.0}}}}
	if err := s.Write(context.Background(), m); err != nil {
		t.Errorf("JSON detections: %v", err)
	}
}

func TestConfigErrors(t *testing.T) {
	spec, _ := component.Lookup(pipeline.KindSink, "annotate")
	for yml, want := range map[string]string{
		"every: 2\n":                              "give dir",
		"listen: 0.0.0.0:8090\n":                  "not a loopback",
		"dir: x\ncolor: [1, 2]\n":                 "three values",
		"dir: x\ncolor: [1, 2, 300]\n":            "0..255",
		"listen: 0.0.0.0:0\nallow_remote: true\n": "",
	} {
		var doc yaml.Node
		_ = yaml.Unmarshal([]byte(yml), &doc)
		conf, errs := component.Parse(spec.Fields, doc.Content[0], "t.yaml", "sinks.x", nil)
		if len(errs) > 0 {
			t.Fatal(errs)
		}
		s, err := spec.New(conf, &component.Resources{Logger: zerolog.Nop()})
		if want == "" {
			if err != nil {
				t.Errorf("%q: %v", yml, err)
			} else {
				_ = s.(*Sink).Close(context.Background())
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: err = %v, want %q", yml, err, want)
		}
	}
}
