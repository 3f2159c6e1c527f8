package detect

import (
	"context"
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/edgeflow/edgeflow/component"
	"github.com/edgeflow/edgeflow/pipeline"
	"github.com/edgeflow/edgeflow/vision"
	"go.yaml.in/yaml/v3"
)

func parse(t *testing.T, src string) (*Stage, error) {
	t.Helper()
	var n yaml.Node
	if err := yaml.Unmarshal([]byte(src), &n); err != nil {
		t.Fatal(err)
	}
	spec, _ := component.Lookup(pipeline.KindStage, "detect")
	conf, errs := component.Parse(spec.Fields, n.Content[0], "p.yaml", "stages.detect", nil)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	s, err := spec.New(conf, &component.Resources{Dir: t.TempDir()})
	if err != nil {
		return nil, err
	}
	return s.(*Stage), nil
}

type emits []*pipeline.Message

func (e *emits) Emit(m *pipeline.Message) { *e = append(*e, m) }

func TestStageDecodesAndDropsTensors(t *testing.T) {
	s, err := parse(t, "model: yolox\nclasses: [person]\nthreshold: 0.3")
	if err != nil {
		t.Fatal(err)
	}
	// A 64×64 YOLOX output (84 cells, 80 classes) with a person at cell
	// (1,2) of stride 16 and a bicycle next to it.
	const cols = 85
	data := make([]float32, 84*cols)
	copy(data[73*cols:], []float32{0.5, 0.5, float32(math.Log(2)), 0, 0.9, 0.8})
	copy(data[74*cols:], []float32{0.5, 0.5, 0, 0, 0.9, 0, 0.8})
	lb, _ := vision.FitLetterbox(128, 128, 64, 64, vision.TopLeft)
	m := pipeline.NewMessage(nil)
	m.SourceTime = time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
	m.Fields = map[string]any{"output": data, "output_shape": []int64{1, 84, cols}, "letterbox": lb,
		"camera": "gate", "frame_id": uint64(9), "images": make([]float32, 10)}
	var out emits
	if err := s.Process(context.Background(), m, &out); err != nil {
		t.Fatal(err)
	}
	if len(out) != 1 {
		t.Fatalf("emitted %d", len(out))
	}
	f := out[0].Fields
	dets := f["detections"].([]vision.Detection)
	if len(dets) != 1 || dets[0].Class != "person" || dets[0].Box != (vision.Box{X1: 16, Y1: 64, X2: 80, Y2: 96}) {
		t.Fatalf("detections %+v", dets)
	}
	if _, ok := f["images"]; ok {
		t.Error("the input tensor was kept")
	}
	if _, ok := f["output"]; ok {
		t.Error("the output tensor was kept")
	}
	raw, err := json.Marshal(f)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"camera":"gate"`, `"frame_id":9`, `"capture_time":"2024-01-02T03:04:05Z"`, `"count":1`, `"class":"person"`} {
		if !strings.Contains(string(raw), want) {
			t.Errorf("JSON %s lacks %s", raw, want)
		}
	}

	// Missing pieces are per-message errors (dead letters), not panics.
	for name, fields := range map[string]map[string]any{
		"no letterbox": {"output": data, "output_shape": []int64{1, 84, cols}},
		"no shape":     {"output": data, "letterbox": lb},
		"wrong shape":  {"output": data, "output_shape": []int64{1, 80, cols}, "letterbox": lb},
		"not a tensor": {"output": "x", "letterbox": lb},
	} {
		m := pipeline.NewMessage(nil)
		m.Fields = fields
		if err := s.Process(context.Background(), m, &out); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

// TestStageHonoursIoU decodes two people whose boxes overlap with IoU 0.6:
// NMS keeps both only when the configured iou is above 0.6.
func TestStageHonoursIoU(t *testing.T) {
	const cols = 85
	data := make([]float32, 84*cols)
	// Stride-16 cells (1,2) and (2,2), 32×16 boxes centred at x = 24 and
	// x = 32 (in the 64×64 input): x 8..40 and 16..48, IoU 24/40.
	copy(data[73*cols:], []float32{0.5, 0.5, float32(math.Log(2)), 0, 0.9, 0.8})
	copy(data[74*cols:], []float32{0, 0.5, float32(math.Log(2)), 0, 0.9, 0.7})
	lb, _ := vision.FitLetterbox(64, 64, 64, 64, vision.TopLeft)
	for conf, want := range map[string]int{
		"":          1, // the default, 0.45
		"iou: 0.55": 1,
		"iou: 0.65": 2,
		"iou: 0.9":  2,
		"iou: 0.1":  1,
	} {
		s, err := parse(t, "model: yolox\nthreshold: 0.3\n"+conf)
		if err != nil {
			t.Fatal(err)
		}
		m := pipeline.NewMessage(nil)
		m.Fields = map[string]any{"output": data, "output_shape": []int64{1, 84, cols}, "letterbox": lb}
		var out emits
		if err := s.Process(context.Background(), m, &out); err != nil {
			t.Fatal(err)
		}
		if dets := out[0].Fields["detections"].([]vision.Detection); len(dets) != want {
			t.Errorf("%q: %d detections %+v, want %d", conf, len(dets), dets, want)
		}
	}
}

func TestStageConfigErrors(t *testing.T) {
	if _, err := parse(t, "model: yolox\nclasses: [unicorn]"); err == nil || !strings.Contains(err.Error(), "unicorn") {
		t.Errorf("unknown class: %v", err)
	}
	if _, err := parse(t, "model: yolox\nlabels: missing.txt"); err == nil || !strings.Contains(err.Error(), "missing.txt") {
		t.Errorf("missing labels file: %v", err)
	}
	s, err := parse(t, "model: ultraface")
	if err != nil || s.post.Label(0) != "face" {
		t.Errorf("ultraface labels: %v", err)
	}
	if _, err := parse(t, "model: nanodet\nstrides: [8, 16.5]"); err == nil {
		t.Error("fractional stride accepted")
	}
}

func TestStageBlazeFace(t *testing.T) {
	s, err := parse(t, "model: blazeface\noutputs: [regressors, classificators]\nthreshold: 0.5\niou: 0.3")
	if err != nil {
		t.Fatal(err)
	}
	scores := make([]float32, 896)
	for i := range scores {
		scores[i] = -10
	}
	boxes := make([]float32, 896*16)
	scores[0] = 3
	copy(boxes, []float32{10, 10, 16, 16, 0, 0, 2, 2})
	lb, _ := vision.Stretch(256, 256, 128, 128)
	m := pipeline.NewMessage(nil)
	m.Fields = map[string]any{"regressors": boxes, "regressors_shape": []int64{1, 896, 16},
		"classificators": scores, "classificators_shape": []int64{1, 896, 1}, "letterbox": lb}
	var out emits
	if err := s.Process(context.Background(), m, &out); err != nil {
		t.Fatal(err)
	}
	dets := out[0].Fields["detections"].([]vision.Detection)
	// Anchor (4,4) + (10,10) = centre (14,14), 16×16, doubled to the source.
	if len(dets) != 1 || dets[0].Class != "face" || dets[0].Box != (vision.Box{X1: 12, Y1: 12, X2: 44, Y2: 44}) {
		t.Fatalf("%+v", dets)
	}
	if len(dets[0].Keypoints) != 6 || dets[0].Keypoints[0] != (vision.Point{X: 8, Y: 8}) || dets[0].Keypoints[1] != (vision.Point{X: 12, Y: 12}) {
		t.Errorf("keypoints %+v", dets[0].Keypoints)
	}
	raw, _ := json.Marshal(dets[0])
	if !strings.Contains(string(raw), `"keypoints":[{"x":8,"y":8}`) {
		t.Errorf("JSON %s", raw)
	}
}
