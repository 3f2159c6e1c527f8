package vision

import (
	"fmt"
	"math"
	"slices"
)

// NanoDet decodes NanoDet-Plus heads with the generalized focal loss box
// distribution: per stride, a class-score output [1, n, C] (already sigmoid)
// and a box output [1, n, 4·(RegMax+1)] holding, for each side (left, top,
// right, bottom), a distribution over RegMax+1 bins whose softmax
// expectation times the stride is the distance from the cell's centre.
//
// Outputs may come in any order: box outputs are told apart by their width
// 4·(RegMax+1) and each output's stride by its cell count. When the class
// count equals that width, outputs must alternate class, box, per stride
// finest first (the order of opencv_zoo's export).
type NanoDet struct {
	// Strides of the feature maps (default 8, 16, 32).
	Strides []int
	// RegMax is the last bin index of the distribution (default 7).
	RegMax int
	// CenterOffset places a cell's centre at (cell + CenterOffset)·stride,
	// so it is in strides, not pixels. NanoDet's GFL head (and the
	// opencv_zoo export in ../shared/models) uses the middle of the cell,
	// 0.5; NanoDet-Plus's own export uses the cell's corner, 0. A pixel
	// offset cannot be right for every stride: measured on messi5.jpg, 0
	// puts the large (stride-32) player box 21 px up and left of him.
	CenterOffset float32
}

// Decode implements Decoder.
func (d NanoDet) Decode(outputs []Tensor, inW, inH int, threshold float32) ([]Detection, error) {
	strides := d.Strides
	if len(strides) == 0 {
		strides = []int{8, 16, 32}
	}
	regMax := d.RegMax
	if regMax <= 0 {
		regMax = 7
	}
	bins := regMax + 1
	if len(outputs) != 2*len(strides) {
		return nil, fmt.Errorf("nanodet: want %d outputs (a class and a box output per stride %v), got %d", 2*len(strides), strides, len(outputs))
	}
	type level struct {
		cls, reg   []float32
		classes    int
		gw, gh, st int
	}
	levels := make([]level, len(strides))
	for i, s := range strides {
		levels[i].gw, levels[i].gh, levels[i].st = ceilDiv(inW, s), ceilDiv(inH, s), s
	}
	shapes := make([][]int64, len(outputs))
	classWidth := int64(-1)
	for i, o := range outputs {
		sh, err := o.squeeze(fmt.Sprintf("nanodet output %d", i))
		if err != nil {
			return nil, err
		}
		if len(sh) != 2 {
			return nil, fmt.Errorf("nanodet: output %d has shape %v, want [1,n,k]", i, o.Shape)
		}
		shapes[i] = sh
		if sh[1] != int64(4*bins) {
			classWidth = sh[1]
		}
	}
	ambiguous := classWidth < 0 // every output is 4·bins wide
	for i, sh := range shapes {
		isReg := sh[1] == int64(4*bins)
		if ambiguous {
			isReg = i%2 == 1
		}
		li := slices.IndexFunc(levels, func(l level) bool { return int64(l.gw*l.gh) == sh[0] })
		if ambiguous {
			li = i / 2
		}
		if li < 0 || int64(levels[li].gw*levels[li].gh) != sh[0] {
			return nil, fmt.Errorf("nanodet: output %d has %d cells, which fits no stride of %v for a %dx%d input", i, sh[0], strides, inW, inH)
		}
		l := &levels[li]
		if isReg {
			if l.reg != nil {
				return nil, fmt.Errorf("nanodet: two box outputs for stride %d", l.st)
			}
			l.reg = outputs[i].Data
		} else {
			if l.cls != nil {
				return nil, fmt.Errorf("nanodet: two class outputs for stride %d", l.st)
			}
			l.cls, l.classes = outputs[i].Data, int(sh[1])
		}
	}
	var dets []Detection
	dist := make([]float32, 4)
	for _, l := range levels {
		if l.cls == nil || l.reg == nil {
			return nil, fmt.Errorf("nanodet: stride %d lacks its class or box output", l.st)
		}
		fs := float32(l.st)
		for cell := range l.gw * l.gh {
			scores := l.cls[cell*l.classes : (cell+1)*l.classes]
			best, bestID := float32(0), -1
			for c, v := range scores {
				if v > best {
					best, bestID = v, c
				}
			}
			if bestID < 0 || best < threshold {
				continue
			}
			reg := l.reg[cell*4*bins : (cell+1)*4*bins]
			for side := range 4 {
				dist[side] = expectation(reg[side*bins:(side+1)*bins]) * fs
			}
			cx := (float32(cell%l.gw) + d.CenterOffset) * fs
			cy := (float32(cell/l.gw) + d.CenterOffset) * fs
			b := Box{
				max(cx-dist[0], 0), max(cy-dist[1], 0),
				min(cx+dist[2], float32(inW)), min(cy+dist[3], float32(inH)),
			}
			dets = append(dets, Detection{ClassID: bestID, Score: best, Box: b})
		}
	}
	return dets, nil
}

// expectation is Σ i·softmax(logits)_i.
func expectation(logits []float32) float32 {
	m := slices.Max(logits)
	var sum, acc float64
	for i, v := range logits {
		e := math.Exp(float64(v - m))
		sum += e
		acc += e * float64(i)
	}
	return float32(acc / sum)
}

func ceilDiv(a, b int) int { return (a + b - 1) / b }
