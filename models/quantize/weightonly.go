package quantize

import (
	"fmt"
	"slices"

	"github.com/edgeflow/edgeflow/models/onnxpb"
)

// WeightOnly stores the constant weights of Conv, Gemm and MatMul nodes as
// int8 (symmetric, per output channel from opset 13, else per tensor)
// behind DequantizeLinear nodes, leaving the maths in float. The file
// shrinks about 4x; speed is the float model's once ONNX Runtime folds the
// DequantizeLinear nodes at load time (it keeps them, and dequantises on
// every run, unless the session disables its QDQ handling).
func WeightOnly(m *onnxpb.ModelProto, opts Options) (*onnxpb.ModelProto, *Report, error) {
	return uncalibrated("weight-only", weightOnly, m, opts)
}

// weightOnly is WeightOnly without the ONNX Runtime checks: it returns the
// rewritten graph, not yet sealed.
func weightOnly(m *onnxpb.ModelProto, opts *Options, r *Report) (*onnxpb.ModelProto, error) {
	if len(opts.Ops) == 0 {
		opts.Ops = []string{"Conv", "Gemm", "MatMul"}
	}
	out, err := prepare(m, opts, r, 10)
	if err != nil {
		return nil, err
	}
	q := newQuantizer(out, opts, r)
	for _, n := range slices.Clone(out.GetGraph().GetNode()) {
		op := n.GetOpType()
		if !slices.Contains([]string{"Conv", "Gemm", "MatMul"}, op) || !slices.Contains(opts.Ops, op) || slices.Contains(opts.Exclude, n.GetName()) {
			continue
		}
		if len(n.GetInput()) < 2 || q.ix.Initializer(n.GetInput()[1]) == nil || emptyWeight(q.ix.Initializer(n.GetInput()[1])) {
			continue
		}
		axis := weightAxis(n, q.ix.Initializer(n.GetInput()[1]))
		if !r.PerChannel {
			axis = -1
		}
		if _, _, err := q.weight(n, 1, axis, ""); err != nil {
			return nil, err
		}
		r.Quantized[op]++
	}
	if len(r.Quantized) == 0 {
		return nil, fmt.Errorf("%w: no Conv, Gemm or MatMul with a constant weight", ErrNotQuantizable)
	}
	return out, nil
}
