package vision

import (
	"encoding/json"
	"math"
	"slices"
	"strings"
	"testing"
)

func near(a, b, tol float32) bool { return float32(math.Abs(float64(a-b))) <= tol }

func boxNear(t *testing.T, what string, got, want Box, tol float32) {
	t.Helper()
	if !near(got.X1, want.X1, tol) || !near(got.Y1, want.Y1, tol) || !near(got.X2, want.X2, tol) || !near(got.Y2, want.Y2, tol) {
		t.Errorf("%s: box %+v, want %+v (±%g)", what, got, want, tol)
	}
}

func TestIoUAndNMS(t *testing.T) {
	a := Box{0, 0, 10, 10}
	b := Box{5, 0, 15, 10}
	if got := IoU(a, b); !near(got, 50.0/150, 1e-6) {
		t.Fatalf("IoU = %v, want 1/3", got)
	}
	if IoU(a, Box{20, 20, 30, 30}) != 0 {
		t.Fatal("disjoint boxes overlap")
	}
	dets := func() []Detection {
		return []Detection{
			{ClassID: 0, Score: 0.6, Box: Box{1, 0, 11, 10}}, // overlaps the best person
			{ClassID: 0, Score: 0.9, Box: a},
			{ClassID: 1, Score: 0.8, Box: a}, // another class on the same spot
			{ClassID: 0, Score: 0.7, Box: Box{50, 50, 60, 60}},
		}
	}
	kept := NMS(dets(), 0.45, true, 0)
	if len(kept) != 3 || kept[0].Score != 0.9 || kept[1].ClassID != 1 || kept[2].Score != 0.7 {
		t.Fatalf("class-aware NMS kept %+v", kept)
	}
	kept = NMS(dets(), 0.45, false, 0)
	if len(kept) != 2 || kept[0].Score != 0.9 || kept[1].Score != 0.7 {
		t.Fatalf("class-agnostic NMS kept %+v", kept)
	}
	if kept = NMS(dets(), 0.45, true, 1); len(kept) != 1 {
		t.Fatalf("limit 1 kept %d", len(kept))
	}
}

// TestNMSSuppressesAboveIoUOnly: suppression needs an overlap strictly
// above iou; boxes overlapping exactly at iou both stay.
func TestNMSSuppressesAboveIoUOnly(t *testing.T) {
	top, half := Box{0, 0, 10, 10}, Box{0, 0, 10, 20} // IoU exactly 0.5
	if got := IoU(top, half); got != 0.5 {
		t.Fatalf("IoU = %v, want 0.5", got)
	}
	dets := func() []Detection {
		return []Detection{{Score: 0.9, Box: top}, {Score: 0.8, Box: half}}
	}
	if kept := NMS(dets(), 0.5, false, 0); len(kept) != 2 {
		t.Errorf("iou 0.5 with an overlap of exactly 0.5 kept %+v, want both", kept)
	}
	if kept := NMS(dets(), 0.49, false, 0); len(kept) != 1 || kept[0].Score != 0.9 {
		t.Errorf("iou 0.49 kept %+v, want the best box only", kept)
	}
}

func TestLetterbox(t *testing.T) {
	lb, err := FitLetterbox(768, 576, 416, 416, TopLeft)
	if err != nil {
		t.Fatal(err)
	}
	if w, h := lb.Resized(); w != 416 || h != 312 || lb.PadX != 0 || lb.PadY != 0 {
		t.Fatalf("top-left letterbox %+v resized %dx%d", lb, w, h)
	}
	c, _ := FitLetterbox(768, 576, 416, 416, Center)
	if c.PadY != 52 || c.PadX != 0 {
		t.Fatalf("centred letterbox pads %v,%v, want 0,52", c.PadX, c.PadY)
	}
	// A box in the model input maps back to the source and is clipped.
	boxNear(t, "top-left", lb.ToSource(Box{104, 78, 208, 156}), Box{192, 144, 384, 288}, 0.5)
	boxNear(t, "centred", c.ToSource(Box{104, 78 + 52, 208, 156 + 52}), Box{192, 144, 384, 288}, 0.5)
	boxNear(t, "clipped", lb.ToSource(Box{-10, -10, 416, 416}), Box{0, 0, 768, 576}, 0)
	s, _ := Stretch(640, 480, 320, 240)
	boxNear(t, "stretch", s.ToSource(Box{10, 10, 20, 20}), Box{20, 20, 40, 40}, 1e-4)
	if _, err := FitLetterbox(0, 10, 416, 416, TopLeft); err == nil {
		t.Fatal("zero-width source accepted")
	}
	// A letterbox survives a JSON round trip through a field.
	raw, _ := json.Marshal(lb)
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	back, err := LetterboxFrom(m)
	if err != nil || back != lb {
		t.Fatalf("LetterboxFrom(json) = %+v, %v; want %+v", back, err, lb)
	}
	if _, err := LetterboxFrom("nope"); err == nil {
		t.Fatal("a string was taken for a letterbox")
	}
}

// yoloxTensor makes a YOLOX output for a 64×64 input (strides 8, 16, 32:
// 64+16+4 cells) with 3 classes, all zero but for the rows given.
func yoloxTensor(rows map[int][]float32) Tensor {
	const cells, cols = 84, 8
	d := make([]float32, cells*cols)
	for r, v := range rows {
		copy(d[r*cols:], v)
	}
	return Tensor{Shape: []int64{1, cells, cols}, Data: d}
}

func TestYOLOXDecode(t *testing.T) {
	// Stride 16 starts at row 64; cell (gx=1, gy=2) of its 4×4 grid is row 64+2·4+1.
	out := yoloxTensor(map[int][]float32{
		73: {0.5, 0.5, float32(math.Log(2)), 0, 0.9, 0.1, 0.8, 0.2},
		10: {0, 0, 0, 0, 0.2, 0.9, 0, 0}, // objectness below threshold
		11: {0, 0, 0, 0, 0.9, 0.3, 0, 0}, // obj·cls = 0.27 below threshold
	})
	dets, err := YOLOX{}.Decode([]Tensor{out}, 64, 64, 0.3)
	if err != nil {
		t.Fatal(err)
	}
	if len(dets) != 1 {
		t.Fatalf("got %d detections, want 1: %+v", len(dets), dets)
	}
	d := dets[0]
	if d.ClassID != 1 || !near(d.Score, 0.72, 1e-5) {
		t.Fatalf("detection %+v, want class 1 score 0.72", d)
	}
	// cx = (0.5+1)·16 = 24, cy = (0.5+2)·16 = 40, w = 2·16, h = 16.
	boxNear(t, "yolox", d.Box, Box{8, 32, 40, 48}, 1e-4)

	if _, err := (YOLOX{}).Decode([]Tensor{out}, 96, 64, 0.3); err == nil || !strings.Contains(err.Error(), "grid cells") {
		t.Fatalf("wrong input size: err = %v", err)
	}
	if _, err := (YOLOX{}).Decode([]Tensor{{Shape: []int64{1, 84, 8}, Data: make([]float32, 10)}}, 64, 64, 0.3); err == nil {
		t.Fatal("short data accepted")
	}
}

// nanodetOutputs makes the four outputs of a NanoDet head for a 32×32 input
// with strides 8 and 16 (16 and 4 cells), 3 classes, reg_max 7.
func nanodetOutputs() (cls8, reg8, cls16, reg16 Tensor) {
	const bins = 8
	mk := func(n, k int) Tensor {
		return Tensor{Shape: []int64{1, int64(n), int64(k)}, Data: make([]float32, n*k)}
	}
	cls8, reg8, cls16, reg16 = mk(16, 3), mk(16, 4*bins), mk(4, 3), mk(4, 4*bins)
	// Cell 5 of stride 8 is (gx=1, gy=1): centre (8, 8).
	cls8.Data[5*3+2] = 0.7
	cls8.Data[6*3+0] = 0.1     // below threshold
	sides := []int{1, 1, 2, 1} // bins for left, top, right, bottom
	for s, bin := range sides {
		reg8.Data[5*4*bins+s*bins+bin] = 50 // softmax puts all the mass here
	}
	return
}

// TestYOLOXThresholdAndTies: the threshold is the lowest score kept (an
// objectness or score exactly at it passes), and a tie between classes
// goes to the lower class id.
func TestYOLOXThresholdAndTies(t *testing.T) {
	out := yoloxTensor(map[int][]float32{
		73: {0.5, 0.5, 0, 0, 0.5, 1, 0, 0},     // obj 0.5 × cls 1: score 0.5 exactly
		10: {0.5, 0.5, 0, 0, 0.9, 0.6, 0.6, 0}, // classes 0 and 1 tie
	})
	dets, err := YOLOX{}.Decode([]Tensor{out}, 64, 64, 0.5)
	if err != nil {
		t.Fatal(err)
	}
	if len(dets) != 2 || dets[0].ClassID != 0 || dets[0].Score != 0.54 || dets[1].Score != 0.5 {
		t.Fatalf("decoded %+v, want the tie as class 0 (score 0.54) and the detection at the threshold", dets)
	}
}

// TestNanoDetCellAndClamp: cell 6 of stride 8 is (gx=2, gy=1), centre
// (16, 8); a right distance of 24 px is clamped to the 32 px input.
func TestNanoDetCellAndClamp(t *testing.T) {
	const bins = 8
	c8, r8, c16, r16 := nanodetOutputs()
	clear(c8.Data)
	clear(r8.Data)
	c8.Data[6*3+1] = 0.8
	for side, bin := range []int{1, 1, 3, 1} {
		r8.Data[6*4*bins+side*bins+bin] = 50
	}
	dets, err := NanoDet{Strides: []int{8, 16}}.Decode([]Tensor{c8, r8, c16, r16}, 32, 32, 0.3)
	if err != nil {
		t.Fatal(err)
	}
	if len(dets) != 1 || dets[0].ClassID != 1 {
		t.Fatalf("detections %+v", dets)
	}
	boxNear(t, "cell 6", dets[0].Box, Box{8, 0, 32, 16}, 1e-3)
}

func TestNanoDetDecode(t *testing.T) {
	c8, r8, c16, r16 := nanodetOutputs()
	dec := NanoDet{Strides: []int{8, 16}}
	for name, outs := range map[string][]Tensor{
		"alternating": {c8, r8, c16, r16},
		"shuffled":    {r16, c8, c16, r8},
	} {
		dets, err := dec.Decode(outs, 32, 32, 0.3)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if len(dets) != 1 || dets[0].ClassID != 2 || !near(dets[0].Score, 0.7, 1e-6) {
			t.Fatalf("%s: detections %+v", name, dets)
		}
		// Distances 8, 8, 16, 8 from (8, 8).
		boxNear(t, name, dets[0].Box, Box{0, 0, 24, 16}, 1e-3)
	}
	if _, err := dec.Decode([]Tensor{c8, r8, c16}, 32, 32, 0.3); err == nil {
		t.Fatal("a missing output was accepted")
	}
	if _, err := dec.Decode([]Tensor{c8, r8, c16, r16}, 64, 64, 0.3); err == nil {
		t.Fatal("outputs that fit no stride were accepted")
	}
	if got := expectation([]float32{0, 0}); !near(got, 0.5, 1e-6) {
		t.Fatalf("expectation of a flat distribution = %v", got)
	}
}

func TestUltraFaceDecode(t *testing.T) {
	const n = 4420 // priors of a 320×240 input
	scores := Tensor{Shape: []int64{1, n, 2}, Data: make([]float32, 2*n)}
	boxes := Tensor{Shape: []int64{1, n, 4}, Data: make([]float32, 4*n)}
	scores.Data[2*7+1] = 0.95
	copy(boxes.Data[4*7:], []float32{0.25, 0.5, 0.5, 1})
	dets, err := UltraFace{}.Decode([]Tensor{boxes, scores}, 320, 240, 0.7)
	if err != nil {
		t.Fatal(err)
	}
	if len(dets) != 1 || dets[0].Score != 0.95 {
		t.Fatalf("decoded %+v", dets)
	}
	boxNear(t, "decoded", dets[0].Box, Box{80, 120, 160, 240}, 1e-3)

	if p := ultraPriors(320, 240); len(p) != n {
		t.Fatalf("%d priors for 320×240, want %d", len(p), n)
	}
	// Raw: zero offsets give the prior box itself; logits (0, 5) score σ(5).
	raw := Tensor{Shape: scores.Shape, Data: make([]float32, 2*n)}
	raw.Data[1] = 5
	for i := 1; i < n; i++ {
		raw.Data[2*i] = 5 // background wins everywhere else
	}
	dets, err = UltraFace{Raw: true}.Decode([]Tensor{raw, {Shape: boxes.Shape, Data: make([]float32, 4*n)}}, 320, 240, 0.5)
	if err != nil {
		t.Fatal(err)
	}
	if len(dets) != 1 || !near(dets[0].Score, 0.9933, 1e-3) {
		t.Fatalf("raw decoded %+v", dets)
	}
	// Prior 0: centre (0.5/40, 0.5/30) normalised, 10×10 pixels.
	boxNear(t, "raw", dets[0].Box, square(4, 4, 10).clip(320, 240), 1e-3)
	if _, err := (UltraFace{}).Decode([]Tensor{scores}, 320, 240, 0.5); err == nil {
		t.Fatal("one output accepted")
	}
	// A raw y offset of 1 moves the centre by the centre variance (0.1)
	// times the prior's height: prior 0 (10×10 px at (4, 4)) moves down
	// 1 px, on a 320×240 input where its normalised width and height differ.
	offset := Tensor{Shape: boxes.Shape, Data: make([]float32, 4*n)}
	offset.Data[1] = 1
	if dets, err = (UltraFace{Raw: true}).Decode([]Tensor{raw, offset}, 320, 240, 0.5); err != nil || len(dets) != 1 {
		t.Fatalf("raw with an offset: %+v, %v", dets, err)
	}
	boxNear(t, "raw, y offset 1", dets[0].Box, square(4, 5, 10).clip(320, 240), 1e-3)
}

// square returns the box of side size centred on (cx, cy).
func square(cx, cy, size float32) Box {
	return Box{cx - size/2, cy - size/2, cx + size/2, cy + size/2}
}

func (b Box) clip(w, h float32) Box {
	return Box{clamp(b.X1, 0, w), clamp(b.Y1, 0, h), clamp(b.X2, 0, w), clamp(b.Y2, 0, h)}
}

func TestPostprocess(t *testing.T) {
	out := yoloxTensor(map[int][]float32{
		73: {0.5, 0.5, float32(math.Log(2)), 0, 0.9, 0.1, 0.8, 0.2}, // class 1 at (8,32)-(40,48)
		74: {0.5, 0.5, float32(math.Log(2)), 0, 0.9, 0.1, 0.8, 0.2}, // class 1, 16 px right: IoU 1/3
		75: {0.5, 0.5, float32(math.Log(2)), 0, 0.9, 0.1, 0.2, 0.7}, // class 2
	})
	lb, _ := FitLetterbox(128, 64, 64, 64, TopLeft) // scale 0.5, image in the top half
	p := Postprocess{Decoder: YOLOX{}, Threshold: 0.3, IoU: 0.3, Labels: []string{"a", "b"}}
	dets, err := p.Run([]Tensor{out}, lb)
	if err != nil {
		t.Fatal(err)
	}
	if len(dets) != 2 {
		t.Fatalf("got %+v, want the two class-1 boxes merged and the class-2 box", dets)
	}
	if dets[0].Class != "b" || dets[1].Class != "class2" {
		t.Fatalf("classes %q, %q", dets[0].Class, dets[1].Class)
	}
	boxNear(t, "mapped back", dets[0].Box, Box{16, 64, 80, 64}, 1e-3) // y clipped to the 64-pixel-high source
	p.Allow = map[int]bool{2: true}
	dets, _ = p.Run([]Tensor{out}, lb)
	if len(dets) != 1 || dets[0].ClassID != 2 {
		t.Fatalf("class filter kept %+v", dets)
	}
	p.Allow = map[int]bool{5: true}
	dets, _ = p.Run([]Tensor{out}, lb)
	raw, _ := json.Marshal(dets)
	if string(raw) != "[]" {
		t.Fatalf("no detections encode as %s, want []", raw)
	}
	one, _ := json.Marshal(Detection{Class: "person", ClassID: 0, Score: 0.5, Box: Box{1, 2, 3, 4}})
	if want := `{"class":"person","class_id":0,"score":0.5,"box":{"x1":1,"y1":2,"x2":3,"y2":4}}`; string(one) != want {
		t.Fatalf("detection JSON %s, want %s", one, want)
	}
	if _, err := p.Run(nil, lb); err == nil {
		t.Fatal("no outputs accepted")
	}
}

func TestReadLabels(t *testing.T) {
	names, err := ReadLabels(strings.NewReader("# coco\nperson\n\n bicycle \n"))
	if err != nil || len(names) != 2 || names[1] != "bicycle" {
		t.Fatalf("ReadLabels = %q, %v", names, err)
	}
	if _, err := ReadLabels(strings.NewReader("\n")); err == nil {
		t.Fatal("empty labels accepted")
	}
}

func TestMatch(t *testing.T) {
	a := []Detection{
		{ClassID: 0, Score: 0.9, Box: Box{0, 0, 10, 10}},
		{ClassID: 0, Score: 0.8, Box: Box{1, 0, 11, 10}},   // also overlaps b's first box
		{ClassID: 1, Score: 0.7, Box: Box{20, 20, 30, 30}}, // b has it as class 2
		{ClassID: 0, Score: 0.6, Box: Box{50, 50, 60, 60}}, // b's box is too far off
	}
	b := []Detection{
		{ClassID: 0, Score: 0.5, Box: Box{0, 0, 10, 10}},
		{ClassID: 2, Score: 0.9, Box: Box{20, 20, 30, 30}},
		{ClassID: 0, Score: 0.4, Box: Box{56, 50, 66, 60}},
	}
	// The best-scored detection takes the one box both class-0 neighbours
	// overlap; the second finds nothing left.
	if n := Match(a, b, 0.5); n != 1 {
		t.Errorf("Match = %d, want 1", n)
	}
	if n := Match(a, b, 0.2); n != 2 {
		t.Errorf("Match at IoU 0.2 = %d, want 2 (the offset box overlaps by 0.25)", n)
	}
	if n := Match(nil, b, 0.5); n != 0 {
		t.Errorf("Match(nil) = %d", n)
	}
	pa, pb := Pairs(a, b, 0.5)
	if !slices.Equal(pa, []bool{true, false, false, false}) || !slices.Equal(pb, []bool{true, false, false}) {
		t.Errorf("Pairs = %v, %v; want only the first of each paired", pa, pb)
	}
}
