package models

import (
	"fmt"
	"slices"
)

// FitInputs matches sample tensors to the model's inputs: a tensor whose
// shape already fits (dynamic dimensions take any size) is kept; one that
// holds the right number of values for the input with its dynamic
// dimensions set to 1 is reshaped (a plain vector for an [N,1,W] model).
// Calibration and comparison data come as such vectors.
func (info *Info) FitInputs(sample []Tensor) ([]Tensor, error) {
	if len(sample) != len(info.Inputs) {
		return nil, fmt.Errorf("model takes %d inputs, sample has %d tensors", len(info.Inputs), len(sample))
	}
	out := make([]Tensor, len(sample))
	for i, t := range sample {
		in := info.Inputs[i]
		out[i] = t
		if shapeFits(in.Shape, t.Shape) {
			continue
		}
		shape := slices.Clone(in.Shape)
		for k, d := range shape {
			if d < 0 {
				shape[k] = 1
			}
		}
		if Elements(shape) != int64(len(t.Data)) {
			return nil, fmt.Errorf("input %q: tensor of shape %v does not fit %s", in.Name, t.Shape, in.ShapeString())
		}
		out[i] = Tensor{Shape: shape, Data: t.Data}
	}
	return out, nil
}

// shapeFits reports whether got matches want, whose negative dimensions
// are dynamic.
func shapeFits(want, got []int64) bool {
	if len(want) != len(got) {
		return false
	}
	for i, d := range want {
		if d >= 0 && d != got[i] {
			return false
		}
	}
	return true
}
