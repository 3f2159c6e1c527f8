package quantize

import (
	"fmt"
	"slices"

	"github.com/edgeflow/edgeflow/models/graph"
	"github.com/edgeflow/edgeflow/models/onnxpb"
)

// Dynamic quantises the MatMul and Gemm nodes of m whose weight is a
// constant: weights become int8 (per output column unless PerTensor), and
// activations are quantised to uint8 at run time by DynamicQuantizeLinear
// and multiplied with MatMulInteger; ONNX Runtime fuses the pattern into
// DynamicQuantizeMatMul / MatMulIntegerToFloat. It needs no calibration
// data and works from opset 11 (older models are upgraded).
func Dynamic(m *onnxpb.ModelProto, opts Options) (*onnxpb.ModelProto, *Report, error) {
	return uncalibrated("dynamic", dynamic, m, opts)
}

// dynamic is Dynamic without the ONNX Runtime checks: it returns the
// rewritten graph, not yet sealed.
func dynamic(m *onnxpb.ModelProto, opts *Options, r *Report) (*onnxpb.ModelProto, error) {
	if graph.Opset(m, "") >= 11 {
		opts.Opset = OpsetKeep // MatMulInteger's per-column zero points need no opset 13
	}
	if len(opts.Ops) == 0 {
		opts.Ops = []string{"MatMul", "Gemm"}
	}
	out, err := prepare(m, opts, r, 11)
	if err != nil {
		return nil, err
	}
	r.PerChannel = !opts.PerTensor
	q := newQuantizer(out, opts, r)
	dq := map[string][3]string{} // activation -> its quantised value, scale, zero point
	for _, n := range slices.Clone(out.GetGraph().GetNode()) {
		op := n.GetOpType()
		if (op != "MatMul" && op != "Gemm") || !slices.Contains(opts.Ops, op) || slices.Contains(opts.Exclude, n.GetName()) {
			continue
		}
		var w *onnxpb.TensorProto
		if len(n.GetInput()) >= 2 {
			w = q.ix.Initializer(n.GetInput()[1])
		}
		if w == nil || len(w.GetDims()) != 2 || emptyWeight(w) || q.ix.Initializer(n.GetInput()[0]) != nil {
			r.Skipped = append(r.Skipped, fmt.Sprintf("%s %q: needs an activation times a 2-D constant weight", op, n.GetName()))
			continue
		}
		if op == "Gemm" && (graph.AttrInt(n, "transA", 0) != 0 || graph.AttrFloat(n, "alpha", 1) != 1 || graph.AttrFloat(n, "beta", 1) != 1) {
			r.Skipped = append(r.Skipped, fmt.Sprintf("Gemm %q: transA, alpha or beta is not the default", n.GetName()))
			continue
		}
		if err := q.dynamicNode(n, w, dq); err != nil {
			return nil, err
		}
		r.Quantized[op]++
	}
	if len(r.Quantized) == 0 {
		return nil, fmt.Errorf("%w: no MatMul or Gemm with a constant 2-D weight to quantise dynamically", ErrNotQuantizable)
	}
	return out, nil
}

// dynamicNode replaces one MatMul/Gemm with the MatMulInteger pattern.
func (q *quantizer) dynamicNode(n *onnxpb.NodeProto, w *onnxpb.TensorProto, dq map[string][3]string) error {
	g := q.m.GetGraph()
	data, err := graph.Floats(w)
	if err == nil {
		err = finite(w, data)
	}
	if err != nil {
		return fmt.Errorf("%s %q: %w", n.GetOpType(), n.GetName(), err)
	}
	dims := w.GetDims()
	k, cols := dims[0], dims[1]
	if n.GetOpType() == "Gemm" && graph.AttrInt(n, "transB", 0) != 0 {
		// MatMulInteger wants [K,N]; store the transpose.
		t := make([]float32, len(data))
		for i := range dims[0] {
			for j := range dims[1] {
				t[j*dims[0]+i] = data[i*dims[1]+j]
			}
		}
		data, k, cols = t, dims[1], dims[0]
	}
	axis := 1
	if q.opts.PerTensor {
		axis = -1
	}
	kn := []int64{k, cols}
	scales := weightScales(data, kn, axis)
	qw := quantizeWeights(data, kn, axis, scales)
	base, name := w.GetName(), n.GetName()
	qName, sName, zName := q.ix.NewName(base+"_quantized"), q.ix.NewName(base+"_scale"), q.ix.NewName(base+"_zero_point")
	var sDims []int64
	if axis >= 0 {
		sDims = []int64{cols}
	}
	q.ix.AddInitializer(graph.Int8Tensor(qName, kn, qw))
	q.ix.AddInitializer(graph.FloatTensor(sName, sDims, scales))
	q.ix.AddInitializer(graph.Int8Tensor(zName, sDims, make([]int8, len(scales))))
	q.r.Weights++

	x := n.GetInput()[0]
	xq, ok := dq[x]
	if !ok {
		xq = [3]string{q.ix.NewName(x + "_quantized"), q.ix.NewName(x + "_scale"), q.ix.NewName(x + "_zero_point")}
		dq[x] = xq
		g.Node = append(g.Node, graph.Node("DynamicQuantizeLinear", q.ix.NewName(x+"_DynamicQuantizeLinear"), []string{x}, xq[:]))
		q.r.Activations++
	}
	y := n.GetOutput()[0]
	acc, cast, scale := q.ix.NewName(y+"_int32"), q.ix.NewName(y+"_cast"), q.ix.NewName(y+"_scale")
	nodes := []*onnxpb.NodeProto{
		graph.Node("MatMulInteger", q.ix.NewName(name+"_MatMulInteger"), []string{xq[0], qName, xq[2], zName}, []string{acc}),
		graph.Node("Cast", q.ix.NewName(name+"_Cast"), []string{acc}, []string{cast}, graph.IntAttr("to", int64(onnxpb.TensorProto_FLOAT))),
		graph.Node("Mul", q.ix.NewName(name+"_scale_Mul"), []string{xq[1], sName}, []string{scale}),
	}
	if n.GetOpType() == "Gemm" && len(n.GetInput()) > 2 && n.GetInput()[2] != "" {
		pre := q.ix.NewName(y + "_nobias")
		nodes = append(nodes,
			graph.Node("Mul", q.ix.NewName(name+"_Mul"), []string{cast, scale}, []string{pre}),
			graph.Node("Add", q.ix.NewName(name+"_bias_Add"), []string{pre, n.GetInput()[2]}, []string{y}))
	} else {
		nodes = append(nodes, graph.Node("Mul", q.ix.NewName(name+"_Mul"), []string{cast, scale}, []string{y}))
	}
	// Replace n in place (its position keeps the graph sorted).
	for i, old := range g.Node {
		if old == n {
			g.Node = slices.Replace(g.Node, i, i+1, nodes...)
			break
		}
	}
	return nil
}
