package vision

import (
	"math"
	"testing"
)

func TestSSDAnchorsMediaPipeLayouts(t *testing.T) {
	a := BlazeFaceShortRange.Generate(128, 128)
	if len(a) != 896 {
		t.Fatalf("short range: %d anchors, want 896", len(a))
	}
	// Stride 8: 16×16 cells, 2 anchors each; the first two share the first
	// cell's centre (0.5/16), the 513th starts the 8×8 grid at 0.5/8.
	if a[0] != (Anchor{X: 0.03125, Y: 0.03125, W: 1, H: 1}) || a[1] != a[0] || a[2].X != 0.09375 {
		t.Errorf("first anchors %+v %+v %+v", a[0], a[1], a[2])
	}
	if a[512] != (Anchor{X: 0.0625, Y: 0.0625, W: 1, H: 1}) || a[517] != a[512] || a[518].X != 0.1875 {
		t.Errorf("stride 16 anchors %+v %+v %+v", a[512], a[517], a[518])
	}
	if last := a[895]; last.X != 0.9375 || last.Y != 0.9375 {
		t.Errorf("last anchor %+v", last)
	}
	if f := BlazeFaceFullRange.Generate(192, 192); len(f) != 2304 || f[0].X != 0.5/48 || f[2303].Y != 47.5/48 {
		t.Errorf("full range: %d anchors, first %+v", len(f), f[0])
	}
	if b := BlazeFaceBack.Generate(256, 256); len(b) != 896 {
		t.Errorf("back: %d anchors", len(b))
	}
	// Without fixed sizes, scales interpolate between min and max.
	o := BlazeFaceShortRange
	o.FixedAnchorSize = false
	v := o.Generate(128, 128)
	if math.Abs(float64(v[0].W-0.1484375)) > 1e-6 || v[1].W <= v[0].W {
		t.Errorf("variable sizes %+v %+v", v[0], v[1])
	}
}

// blazeOutputs makes short-range outputs with one face at anchor i.
func blazeOutputs(faces map[int][16]float32, logit float32) []Tensor {
	scores := make([]float32, 896)
	boxes := make([]float32, 896*16)
	for i := range scores {
		scores[i] = -20
	}
	for i, r := range faces {
		scores[i] = logit
		copy(boxes[i*16:], r[:])
	}
	return []Tensor{{Shape: []int64{1, 896, 16}, Data: boxes}, {Shape: []int64{1, 896, 1}, Data: scores}}
}

func TestBlazeFaceDecode(t *testing.T) {
	// Anchor 0 is at (4, 4) pixels of the 128 input; the regressor moves
	// the centre by (+10, +20), the size is 32×16, the right eye is at the
	// anchor + (1, 2).
	out := blazeOutputs(map[int][16]float32{0: {10, 20, 32, 16, 1, 2}}, 2)
	dets, err := BlazeFace{}.Decode(out, 128, 128, 0.5)
	if err != nil {
		t.Fatal(err)
	}
	if len(dets) != 1 {
		t.Fatalf("%d detections", len(dets))
	}
	d := dets[0]
	want := Box{14 - 16, 24 - 8, 14 + 16, 24 + 8}
	if math.Abs(float64(d.Box.X1-want.X1)) > 1e-4 || math.Abs(float64(d.Box.Y2-want.Y2)) > 1e-4 {
		t.Errorf("box %+v, want %+v", d.Box, want)
	}
	if s := float32(1 / (1 + math.Exp(-2))); math.Abs(float64(d.Score-s)) > 1e-6 {
		t.Errorf("score %v, want sigmoid(2)", d.Score)
	}
	if len(d.Keypoints) != 6 || d.Keypoints[0] != (Point{5, 6}) || d.Keypoints[1] != (Point{4, 4}) {
		t.Errorf("keypoints %+v", d.Keypoints)
	}
	// Split outputs (512 + 384 per kind, any order) decode the same.
	s, b := out[1].Data, out[0].Data
	split := []Tensor{{Shape: []int64{1, 512, 1}, Data: s[:512]}, {Shape: []int64{1, 384, 1}, Data: s[512:]},
		{Shape: []int64{1, 512, 16}, Data: b[:512*16]}, {Shape: []int64{1, 384, 16}, Data: b[512*16:]}}
	d2, err := BlazeFace{}.Decode(split, 128, 128, 0.5)
	if err != nil || len(d2) != 1 || d2[0].Box != d.Box {
		t.Errorf("split outputs: %v %+v", err, d2)
	}
	// Below the threshold, nothing.
	if d3, _ := (BlazeFace{}).Decode(blazeOutputs(map[int][16]float32{0: {}}, -1), 128, 128, 0.5); len(d3) != 0 {
		t.Errorf("low score kept: %+v", d3)
	}
	// Bad shapes and unknown sizes are errors.
	if _, err := (BlazeFace{}).Decode(out, 100, 100, 0.5); err == nil {
		t.Error("100x100 input accepted without anchors")
	}
	if _, err := (BlazeFace{}).Decode(out[:1], 128, 128, 0.5); err == nil {
		t.Error("regressors without scores accepted")
	}
	if _, err := (BlazeFace{}).Decode([]Tensor{{Shape: []int64{1, 896, 7}, Data: make([]float32, 896*7)}}, 128, 128, 0.5); err == nil {
		t.Error("[1,896,7] accepted")
	}
}

func TestWeightedNMS(t *testing.T) {
	kp := func(x float32) []Point { return []Point{{x, x}} }
	dets := []Detection{
		{Score: 0.6, Box: Box{10, 10, 30, 30}, Keypoints: kp(20)},
		{Score: 0.9, Box: Box{12, 12, 32, 32}, Keypoints: kp(22)},
		{Score: 0.8, Box: Box{100, 100, 120, 120}, Keypoints: kp(110)},
	}
	out := WeightedNMS(dets, 0.3, 0)
	if len(out) != 2 {
		t.Fatalf("%d detections: %+v", len(out), out)
	}
	// The two overlapping boxes merge, weighted 0.9 : 0.6, keeping 0.9.
	w := func(a, b float32) float32 { return (0.9*a + 0.6*b) / 1.5 }
	m := out[0]
	if m.Score != 0.9 || math.Abs(float64(m.Box.X1-w(12, 10))) > 1e-5 || math.Abs(float64(m.Keypoints[0].X-w(22, 20))) > 1e-5 {
		t.Errorf("merged %+v", m)
	}
	if out[1].Box != (Box{100, 100, 120, 120}) || out[1].Score != 0.8 {
		t.Errorf("second %+v", out[1])
	}
	if l := WeightedNMS(dets, 0.3, 1); len(l) != 1 {
		t.Errorf("limit 1: %d", len(l))
	}
}

// Postprocess uses the decoder's own suppression and maps keypoints back
// through the letterbox.
func TestPostprocessBlazeFaceKeypoints(t *testing.T) {
	out := blazeOutputs(map[int][16]float32{0: {60, 60, 40, 40, 60, 60}, 1: {61, 61, 40, 40, 60, 60}}, 3)
	lb, err := FitLetterbox(256, 128, 128, 128, Center) // scale 0.5, 32 pixels of padding on top
	if err != nil {
		t.Fatal(err)
	}
	p := Postprocess{Decoder: BlazeFace{}, Threshold: 0.5, IoU: 0.3, Labels: []string{"face"}}
	dets, err := p.Run(out, lb)
	if err != nil {
		t.Fatal(err)
	}
	if len(dets) != 1 || dets[0].Class != "face" {
		t.Fatalf("%+v", dets)
	}
	// Both candidates share anchor (4, 4): keypoint 0 at input (64, 64)
	// -> source (64/0.5, (64-32)/0.5).
	k := dets[0].Keypoints[0]
	if math.Abs(float64(k.X-128)) > 1e-3 || math.Abs(float64(k.Y-64)) > 1e-3 {
		t.Errorf("keypoint %+v, want (128, 64)", k)
	}
}
