package vision

import (
	"fmt"
	"math"
)

// UltraFace decodes the Ultra-Light-Fast face detector: a score output
// [1, N, 2] (background, face) and a box output [1, N, 4].
//
// The published ONNX files come in two forms. The usual one
// (version-RFB-320.onnx) has softmaxed scores and boxes already decoded to
// corner form normalised to 0..1. The "without postprocessing" one has raw
// logits and box offsets relative to the SSD-style priors; set Raw for it and
// the decoder generates the priors and applies softmax itself.
type UltraFace struct {
	// Raw says the outputs are logits and prior-relative offsets.
	Raw bool
}

// UltraFace's prior layout (from the upstream vision/utils/box_utils and
// config): min box sizes per stride, and the SSD variances.
var (
	ultraStrides  = []int{8, 16, 32, 64}
	ultraMinBoxes = [][]float32{{10, 16, 24}, {32, 48}, {64, 96}, {128, 192, 256}}
)

const (
	ultraCenterVariance = 0.1
	ultraSizeVariance   = 0.2
)

// ultraPriors returns the priors (cx, cy, w, h, normalised) for an input.
func ultraPriors(inW, inH int) [][4]float32 {
	var p [][4]float32
	for i, s := range ultraStrides {
		fw, fh := ceilDiv(inW, s), ceilDiv(inH, s)
		for y := range fh {
			for x := range fw {
				for _, mb := range ultraMinBoxes[i] {
					p = append(p, [4]float32{
						(float32(x) + 0.5) / float32(fw), (float32(y) + 0.5) / float32(fh),
						min(mb/float32(inW), 1), min(mb/float32(inH), 1),
					})
				}
			}
		}
	}
	return p
}

// Decode implements Decoder. Faces have class id 0.
func (u UltraFace) Decode(outputs []Tensor, inW, inH int, threshold float32) ([]Detection, error) {
	if len(outputs) != 2 {
		return nil, fmt.Errorf("ultraface: want two outputs (scores [1,N,2], boxes [1,N,4]), got %d", len(outputs))
	}
	var scores, boxes []float32
	n := int64(-1)
	for i, o := range outputs {
		sh, err := o.squeeze(fmt.Sprintf("ultraface output %d", i))
		if err != nil {
			return nil, err
		}
		if len(sh) != 2 || (sh[1] != 2 && sh[1] != 4) || (n >= 0 && sh[0] != n) {
			return nil, fmt.Errorf("ultraface: output %d has shape %v; want [1,N,2] and [1,N,4]", i, o.Shape)
		}
		n = sh[0]
		if sh[1] == 2 {
			scores = o.Data
		} else {
			boxes = o.Data
		}
	}
	if scores == nil || boxes == nil {
		return nil, fmt.Errorf("ultraface: need one score output [1,N,2] and one box output [1,N,4]")
	}
	var priors [][4]float32
	if u.Raw {
		priors = ultraPriors(inW, inH)
		if int64(len(priors)) != n {
			return nil, fmt.Errorf("ultraface: %d outputs rows, but a %dx%d input has %d priors", n, inW, inH, len(priors))
		}
	}
	fw, fh := float32(inW), float32(inH)
	var dets []Detection
	for i := range int(n) {
		s := scores[2*i+1]
		if u.Raw {
			// softmax over (background, face)
			s = float32(1 / (1 + math.Exp(float64(scores[2*i]-scores[2*i+1]))))
		}
		if s < threshold {
			continue
		}
		b := boxes[4*i : 4*i+4]
		var x1, y1, x2, y2 float32
		if u.Raw {
			p := priors[i]
			cx := b[0]*ultraCenterVariance*p[2] + p[0]
			cy := b[1]*ultraCenterVariance*p[3] + p[1]
			w := float32(math.Exp(float64(b[2]*ultraSizeVariance))) * p[2]
			h := float32(math.Exp(float64(b[3]*ultraSizeVariance))) * p[3]
			x1, y1, x2, y2 = cx-w/2, cy-h/2, cx+w/2, cy+h/2
		} else {
			x1, y1, x2, y2 = b[0], b[1], b[2], b[3]
		}
		dets = append(dets, Detection{ClassID: 0, Score: s, Box: Box{
			clamp(x1*fw, 0, fw), clamp(y1*fh, 0, fh), clamp(x2*fw, 0, fw), clamp(y2*fh, 0, fh)}})
	}
	return dets, nil
}

func clamp(v, lo, hi float32) float32 { return min(max(v, lo), hi) }
