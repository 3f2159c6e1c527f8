package vision

import (
	"fmt"
	"math"
)

// Decoder turns a detector's raw outputs into candidate detections in the
// model input's pixels (before NMS and before mapping back to the source
// image). Only candidates scoring at least threshold are returned; their
// Class is left empty for the caller to name.
type Decoder interface {
	Decode(outputs []Tensor, inW, inH int, threshold float32) ([]Detection, error)
}

// YOLOX decodes YOLOX heads exported without the decoding step: one output
// [1, N, 5+C] whose rows are (x, y, w, h, objectness, C class scores) over
// the grid cells of every stride, finest first. Objectness and class scores
// are already sigmoid; the score of a row is objectness × its best class.
type YOLOX struct {
	// Strides of the feature maps, in output order (default 8, 16, 32).
	Strides []int
}

// Decode implements Decoder.
func (y YOLOX) Decode(outputs []Tensor, inW, inH int, threshold float32) ([]Detection, error) {
	if len(outputs) != 1 {
		return nil, fmt.Errorf("yolox: want one output [1,N,5+classes], got %d", len(outputs))
	}
	shape, err := outputs[0].squeeze("yolox output")
	if err != nil {
		return nil, err
	}
	if len(shape) != 2 || shape[1] < 6 {
		return nil, fmt.Errorf("yolox: output shape %v is not [1,N,5+classes]", outputs[0].Shape)
	}
	strides := y.Strides
	if len(strides) == 0 {
		strides = []int{8, 16, 32}
	}
	rows, cols := int(shape[0]), int(shape[1])
	cells := 0
	for _, s := range strides {
		cells += (inH / s) * (inW / s)
	}
	if cells != rows {
		return nil, fmt.Errorf("yolox: output has %d rows, but a %dx%d input with strides %v makes %d grid cells", rows, inW, inH, strides, cells)
	}
	data := outputs[0].Data
	var dets []Detection
	row := 0
	for _, s := range strides {
		gw, gh := inW/s, inH/s
		fs := float32(s)
		for gy := range gh {
			for gx := range gw {
				r := data[row*cols : (row+1)*cols]
				row++
				obj := r[4]
				if obj < threshold {
					continue // obj·cls <= obj: nothing in this cell can pass
				}
				best, bestID := float32(0), -1
				for c, v := range r[5:] {
					if v > best {
						best, bestID = v, c
					}
				}
				score := obj * best
				if bestID < 0 || score < threshold {
					continue
				}
				cx := (r[0] + float32(gx)) * fs
				cy := (r[1] + float32(gy)) * fs
				w := float32(math.Exp(float64(r[2]))) * fs
				h := float32(math.Exp(float64(r[3]))) * fs
				dets = append(dets, Detection{ClassID: bestID, Score: score,
					Box: Box{cx - w/2, cy - h/2, cx + w/2, cy + h/2}})
			}
		}
	}
	return dets, nil
}
