package quantize

import (
	"fmt"

	"github.com/edgeflow/edgeflow/models/graph"
	"github.com/edgeflow/edgeflow/models/onnxpb"
)

// biasShift is bias correction (Nagel et al., "Data-Free Quantization",
// 2019): rounding a Conv's weights to int8 moves the mean of each output
// channel by Σ (w − ŵ)·E[x] over that channel's weights, a systematic error
// that the next layers amplify. Adding the shift to the bias puts the
// mean back. means are the input's per-channel means on the calibration
// data (zero padding at the borders is ignored); w is [M, C/group, k...].
// It returns nil when the shapes do not fit.
func biasShift(w []float32, qw []int8, dims []int64, axis int, scales []float32, means []float64, group int) []float64 {
	if len(dims) < 3 || group <= 0 {
		return nil
	}
	m, cg := int(dims[0]), int(dims[1])
	if m%group != 0 || cg*group != len(means) {
		return nil
	}
	k := len(w) / (m * cg)
	shift := make([]float64, m)
	for o := range m {
		s := scales[0]
		if axis == 0 {
			s = scales[o]
		}
		g := o / (m / group)
		for c := range cg {
			mean := means[g*cg+c]
			base := (o*cg + c) * k
			for j := range k {
				shift[o] += (float64(w[base+j]) - float64(qw[base+j])*float64(s)) * mean
			}
		}
	}
	return shift
}

// floatBias adds shift to n's (Conv) bias, which stays a float
// initializer until bias quantises it; a Conv without a bias gets one.
func (q *quantizer) floatBias(n *onnxpb.NodeProto, shift []float64) error {
	if shift == nil {
		return nil
	}
	var data []float32
	base := n.GetName() + "_bias"
	if len(n.GetInput()) > 2 && n.GetInput()[2] != "" {
		b := q.ix.Initializer(n.GetInput()[2])
		if b == nil {
			return nil // a computed bias: nothing to correct
		}
		var err error
		if data, err = graph.Floats(b); err != nil {
			return fmt.Errorf("%s %q: %w", n.GetOpType(), n.GetName(), err)
		}
		if len(data) != len(shift) {
			return nil
		}
		base = b.GetName()
	} else {
		data = make([]float32, len(shift))
	}
	out := make([]float32, len(data))
	for i, v := range data {
		out[i] = v + float32(shift[i])
	}
	name := q.ix.NewName(base + "_corrected")
	q.ix.AddInitializer(graph.FloatTensor(name, []int64{int64(len(out))}, out))
	for len(n.Input) < 3 {
		n.Input = append(n.Input, "")
	}
	n.Input[2] = name
	return nil
}
