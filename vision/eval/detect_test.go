package eval

import (
	"strings"
	"testing"

	"github.com/edgeflow/edgeflow/models"
	"github.com/edgeflow/edgeflow/models/compare"
)

// faces builds UltraFace outputs (softmaxed scores [1,N,2], corner boxes
// normalised to 0..1 [1,N,4]) with one confident face per box.
func faces(boxes ...[4]float32) []models.Tensor {
	scores := make([]float32, len(boxes))
	for i := range scores {
		scores[i] = 0.9
	}
	return scoredFaces(scores, boxes...)
}

// scoredFaces is faces with a face score per box.
func scoredFaces(score []float32, boxes ...[4]float32) []models.Tensor {
	n := int64(len(boxes))
	scores := make([]float32, 0, 2*n)
	coords := make([]float32, 0, 4*n)
	for i, b := range boxes {
		scores = append(scores, 1-score[i], score[i])
		coords = append(coords, b[:]...)
	}
	return []models.Tensor{{Shape: []int64{1, n, 2}, Data: scores}, {Shape: []int64{1, n, 4}, Data: coords}}
}

func TestDetectVerdict(t *testing.T) {
	in := []models.Tensor{{Shape: []int64{1, 3, 100, 100}, Data: make([]float32, 3*100*100)}}
	s := compare.Sample{Name: "img.png", Inputs: in}
	v := Detect{Decoder: "ultraface"}.NewVerdict()
	a := compare.Run{In: in, Out: faces([4]float32{0.1, 0.1, 0.3, 0.3}, [4]float32{0.6, 0.6, 0.9, 0.9})}
	// B finds the first face a little off and misses the second for a
	// face A does not have.
	b := compare.Run{In: in, Out: faces([4]float32{0.11, 0.1, 0.31, 0.3}, [4]float32{0.1, 0.6, 0.3, 0.9})}
	if err := v.Add(s, a, b); err != nil {
		t.Fatal(err)
	}
	d := v.(*Detections)
	if d.A != 2 || d.B != 2 || d.Matched != 1 {
		t.Fatalf("detections %d/%d, matched %d; want 2/2, 1", d.A, d.B, d.Matched)
	}
	if d.Agreement() != 0.5 || d.Recall() != 0.5 || d.Precision() != 0.5 {
		t.Errorf("agreement %v, recall %v, precision %v; want 0.5 each", d.Agreement(), d.Recall(), d.Precision())
	}
	if empty := (Detect{Decoder: "ultraface"}).NewVerdict(); empty.Agreement() != 1 {
		t.Errorf("no detections on either side: agreement %v, want 1", empty.Agreement())
	}

	if err := (Detect{Decoder: "ssd"}).NewVerdict().Add(s, a, b); err == nil || !strings.Contains(err.Error(), `model A, sample img.png: unknown detector "ssd"`) {
		t.Errorf("unknown decoder: %v", err)
	}
	flat := compare.Run{In: []models.Tensor{{Shape: []int64{1, 8}, Data: make([]float32, 8)}}, Out: a.Out}
	if err := (Detect{Decoder: "ultraface"}).NewVerdict().Add(s, a, flat); err == nil || !strings.Contains(err.Error(), "model B") {
		t.Errorf("a [1,8] input: %v", err)
	}
}

// TestDetectNear checks that the disagreements close to the threshold are
// told apart from the confident ones, on either side, and that a pair
// near the threshold is no disagreement.
func TestDetectNear(t *testing.T) {
	in := []models.Tensor{{Shape: []int64{1, 3, 100, 100}, Data: make([]float32, 3*100*100)}}
	s := compare.Sample{Name: "img.png", Inputs: in}
	v := Detect{Decoder: "ultraface"}.NewVerdict().(*Detections)
	p, q, r := [4]float32{0.1, 0.1, 0.3, 0.3}, [4]float32{0.6, 0.6, 0.9, 0.9}, [4]float32{0.1, 0.6, 0.3, 0.9}
	// A: a pair at 0.32, a borderline face at 0.34 and a confident one
	// at 0.9 that B lacks; B: the pair and a borderline face at 0.31
	// that A lacks.
	a := compare.Run{In: in, Out: scoredFaces([]float32{0.32, 0.34, 0.9}, p, q, [4]float32{0.4, 0.1, 0.55, 0.3})}
	b := compare.Run{In: in, Out: scoredFaces([]float32{0.33, 0.31}, p, r)}
	if err := v.Add(s, a, b); err != nil {
		t.Fatal(err)
	}
	if v.A != 3 || v.B != 2 || v.Matched != 1 || v.Near != 2 {
		t.Errorf("detections %d/%d, matched %d, near %d; want 3/2, 1, 2", v.A, v.B, v.Matched, v.Near)
	}
}

func TestPresetFor(t *testing.T) {
	for path, want := range map[string]string{
		"models/yolox_nano.onnx": "yolox", "NanoDet_m_416_int8.onnx": "nanodet",
		"ultraface_rfb_320.onnx": "ultraface", "mobilenet.onnx": "rgb",
	} {
		if got := PresetFor(path); got != want {
			t.Errorf("PresetFor(%s) = %s, want %s", path, got, want)
		}
	}
}
