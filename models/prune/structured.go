package prune

import (
	"cmp"
	"fmt"
	"math"
	"slices"

	"github.com/edgeflow/edgeflow/models/graph"
	"github.com/edgeflow/edgeflow/models/onnxpb"
)

// Structured removes the Amount of output channels (Conv) or neurons
// (Gemm, MatMul) with the smallest L1 weight norm from every layer whose
// output can be shrunk safely, and shrinks what follows it: the layer's
// bias, elementwise constants and BatchNormalization parameters on the
// way, and the input dimension of the next Conv/Gemm/MatMul. Layers whose
// output reaches a graph output, a residual join, a Concat or a reshape
// are skipped with the reason in the report; when no layer can be pruned
// the error (wrapping ErrNotPrunable) lists why. The input model is not
// modified.
func Structured(m *onnxpb.ModelProto, opts Options) (*onnxpb.ModelProto, *Report, error) {
	r := &Report{Mode: "structured"}
	out, err := prepare(m, &opts, r)
	if err != nil {
		return nil, nil, err
	}
	if opts.Global {
		return nil, nil, fmt.Errorf("global ranking applies to unstructured pruning only")
	}
	ix := graph.NewIndex(out.GetGraph())
	layers := candidates(out, ix, &opts, r)
	if len(layers) == 0 {
		return nil, nil, fmt.Errorf("%w: no %v layer with a constant float weight", ErrNotPrunable, opts.Ops)
	}
	var refused []string
	for i, n := range layers {
		opts.progress(i, len(layers))
		p, err := planLayer(ix, n)
		if err != nil {
			why := fmt.Sprintf("%s %q: %v", n.GetOpType(), n.GetName(), err)
			r.Skipped = append(r.Skipped, why)
			refused = append(refused, why)
			continue
		}
		l, err := p.apply(ix, opts.Amount)
		if err != nil {
			return nil, nil, err
		}
		r.Layers = append(r.Layers, l)
		ix.Rebuild()
	}
	if len(r.Layers) == 0 {
		return nil, nil, fmt.Errorf("%w: no layer's channels can be removed safely:\n  %s", ErrNotPrunable, joinLines(refused))
	}
	opts.progress(len(layers), len(layers))
	if err := finish(out, r, &opts); err != nil {
		return nil, nil, err
	}
	return out, r, nil
}

func joinLines(s []string) string {
	out := ""
	for i, l := range s {
		if i > 0 {
			out += "\n  "
		}
		out += l
	}
	return out
}

// layout says where the channel dimension of a tensor is: fromRight counts
// dimensions from the last one (0 = last), which is what broadcasting
// aligns; rank is the tensor's rank, or -1 when unknown.
type layout struct {
	fromRight, rank int
}

// cut is one tensor to slice along one axis.
type cut struct {
	node  *onnxpb.NodeProto
	input int
	axis  int
}

// plan is what removing channels of one layer touches.
type plan struct {
	layer    *onnxpb.NodeProto
	channels int
	cuts     []cut // the layer's weight and bias, constants on the way, next layers' weights
}

// unary ops act on each value alone: channels pass through unchanged.
var unary = map[string]bool{
	"Relu": true, "LeakyRelu": true, "Sigmoid": true, "Tanh": true, "Elu": true, "Selu": true, "Celu": true,
	"HardSigmoid": true, "HardSwish": true, "Softplus": true, "Softsign": true, "Identity": true, "Gelu": true,
	"Erf": true, "Abs": true, "Neg": true, "Exp": true, "Log": true, "Sqrt": true, "Reciprocal": true,
	"Mish": true, "Dropout": true, "Clip": true,
}

// broadcasting ops combine their inputs elementwise with numpy
// broadcasting: a constant input is sliced where it has a channel axis.
var broadcasting = map[string]bool{
	"Add": true, "Sub": true, "Mul": true, "Div": true, "Pow": true, "Max": true, "Min": true, "Sum": true, "PRelu": true,
}

// pools reduce space, never channels (axis 1 of an N,C,... tensor).
var pools = map[string]bool{
	"MaxPool": true, "AveragePool": true, "LpPool": true, "GlobalAveragePool": true, "GlobalMaxPool": true, "GlobalLpPool": true,
}

// planLayer finds everything that removing output channels of n touches,
// or says why its channels cannot be removed safely.
func planLayer(ix *graph.Index, n *onnxpb.NodeProto) (*plan, error) {
	w := ix.Initializer(n.GetInput()[1])
	dims := w.GetDims()
	p := &plan{layer: n}
	var start layout
	switch n.GetOpType() {
	case "Conv":
		if g := graph.AttrInt(n, "group", 1); g != 1 {
			return nil, fmt.Errorf("grouped Conv (group %d)", g)
		}
		if len(dims) < 3 {
			return nil, fmt.Errorf("weight of rank %d", len(dims))
		}
		p.channels = int(dims[0])
		p.cuts = append(p.cuts, cut{n, 1, 0})
		start = layout{fromRight: len(dims) - 2, rank: len(dims)}
		if len(n.GetInput()) > 2 && n.GetInput()[2] != "" {
			if ix.Initializer(n.GetInput()[2]) == nil {
				return nil, fmt.Errorf("its bias is not a constant")
			}
			p.cuts = append(p.cuts, cut{n, 2, 0})
		}
	case "Gemm":
		if graph.AttrInt(n, "transA", 0) != 0 {
			return nil, fmt.Errorf("transA=1")
		}
		axis := 1
		if graph.AttrInt(n, "transB", 0) != 0 {
			axis = 0
		}
		p.channels = int(dims[axis])
		p.cuts = append(p.cuts, cut{n, 1, axis})
		start = layout{fromRight: 0, rank: 2}
		if len(n.GetInput()) > 2 && n.GetInput()[2] != "" {
			b := ix.Initializer(n.GetInput()[2])
			if b == nil {
				return nil, fmt.Errorf("its bias is not a constant")
			}
			if bd := b.GetDims(); len(bd) > 0 && bd[len(bd)-1] == int64(p.channels) {
				p.cuts = append(p.cuts, cut{n, 2, len(bd) - 1})
			} else if graph.Elements(bd) != 1 {
				return nil, fmt.Errorf("bias of shape %v", bd)
			}
		}
	case "MatMul":
		if len(dims) != 2 {
			return nil, fmt.Errorf("weight of rank %d", len(dims))
		}
		p.channels = int(dims[1])
		p.cuts = append(p.cuts, cut{n, 1, 1})
		start = layout{fromRight: 0, rank: -1}
	default:
		return nil, fmt.Errorf("not a Conv, Gemm or MatMul")
	}
	if p.channels < 2 {
		return nil, fmt.Errorf("only %d output channel", p.channels)
	}

	// Walk forward from the layer's output through ops that keep channels
	// apart, to the layers that read them.
	group := map[string]layout{n.GetOutput()[0]: start}
	queue := []string{n.GetOutput()[0]}
	visited := map[*onnxpb.NodeProto]bool{}
	var through []*onnxpb.NodeProto
	terminals := 0
	for len(queue) > 0 {
		t := queue[0]
		queue = queue[1:]
		lay := group[t]
		if ix.IsGraphOutput(t) {
			return nil, fmt.Errorf("its channels reach graph output %q", t)
		}
		for _, c := range ix.Consumers(t) {
			if visited[c] {
				continue
			}
			visited[c] = true
			op := c.GetOpType()
			if c.GetDomain() != "" {
				return nil, fmt.Errorf("%s %q (domain %s) reads %q", op, c.GetName(), c.GetDomain(), t)
			}
			if cu, ok, err := terminal(ix, c, t, lay, p.channels); err != nil {
				return nil, err
			} else if ok {
				p.cuts = append(p.cuts, cu)
				terminals++
				continue
			}
			next := lay
			switch {
			case unary[op], broadcasting[op]:
			case op == "BatchNormalization":
				if lay.rank < 2 || lay.fromRight != lay.rank-2 {
					return nil, fmt.Errorf("BatchNormalization %q normalises axis 1, which is not the channel axis of %q", c.GetName(), t)
				}
			case pools[op]:
				if lay.rank < 3 || lay.fromRight != lay.rank-2 {
					return nil, fmt.Errorf("%s %q pools a tensor whose channels are not on axis 1", op, c.GetName())
				}
				if op == "MaxPool" && len(c.GetOutput()) > 1 && c.GetOutput()[1] != "" {
					return nil, fmt.Errorf("MaxPool %q returns indices", c.GetName())
				}
			case op == "Flatten":
				prod := ix.Producer(t)
				global := prod != nil && (prod.GetOpType() == "GlobalAveragePool" || prod.GetOpType() == "GlobalMaxPool")
				if graph.AttrInt(c, "axis", 1) != 1 || !(global || lay.rank == 2) {
					return nil, fmt.Errorf("flatten node %q mixes the channels of %q with other dimensions", c.GetName(), t)
				}
				next = layout{fromRight: 0, rank: 2}
			default:
				return nil, fmt.Errorf("%s %q reads %q, and channels cannot be removed through it", op, c.GetName(), t)
			}
			through = append(through, c)
			for i, o := range c.GetOutput() {
				if o == "" {
					continue
				}
				if i > 0 { // a Dropout mask
					if len(ix.Consumers(o)) > 0 || ix.IsGraphOutput(o) {
						return nil, fmt.Errorf("%s %q output %q is used", op, c.GetName(), o)
					}
					continue
				}
				group[o] = next
				queue = append(queue, o)
			}
		}
	}
	if terminals == 0 {
		return nil, fmt.Errorf("no Conv, Gemm or MatMul reads its channels")
	}
	// Every other input of the ops on the way must be a constant that can
	// be sliced (or broadcasts over channels): anything else joins these
	// channels with a tensor that keeps all of its own.
	for _, c := range through {
		op := c.GetOpType()
		var lay layout
		var inGroup bool
		for _, in := range c.GetInput() {
			if l, ok := group[in]; ok {
				lay, inGroup = l, true
				break
			}
		}
		if !inGroup {
			return nil, fmt.Errorf("internal: %s %q has no pruned input", op, c.GetName())
		}
		for i, in := range c.GetInput() {
			if in == "" {
				continue
			}
			if _, ok := group[in]; ok {
				if op == "BatchNormalization" && i > 0 || op == "Clip" && i > 0 {
					return nil, fmt.Errorf("%s %q takes the pruned tensor as a parameter", op, c.GetName())
				}
				continue
			}
			k := ix.Initializer(in)
			if k == nil {
				what := "tensor"
				if prod := ix.Producer(in); prod != nil {
					what = prod.GetOpType() + " output"
				} else if ix.IsGraphInput(in) {
					what = "graph input"
				}
				return nil, fmt.Errorf("%s %q joins its channels with %s %q, which keeps all of its channels (a residual connection?)", op, c.GetName(), what, in)
			}
			kd := k.GetDims()
			switch {
			case op == "BatchNormalization":
				if len(kd) != 1 || kd[0] != int64(p.channels) {
					return nil, fmt.Errorf("BatchNormalization %q parameter %q has shape %v", c.GetName(), in, kd)
				}
				p.cuts = append(p.cuts, cut{c, i, 0})
			case op == "Clip", unary[op]:
				if graph.Elements(kd) != 1 {
					return nil, fmt.Errorf("%s %q parameter %q is not a scalar", op, c.GetName(), in)
				}
			default:
				at := len(kd) - 1 - lay.fromRight
				switch {
				case at < 0 || kd[at] == 1:
					// Broadcast over the channels: nothing to slice.
				case kd[at] == int64(p.channels):
					p.cuts = append(p.cuts, cut{c, i, at})
				default:
					return nil, fmt.Errorf("%s %q constant %q of shape %v does not line up with %d channels", op, c.GetName(), in, kd, p.channels)
				}
				if lay.rank >= 0 && len(kd) > lay.rank {
					return nil, fmt.Errorf("%s %q constant %q has more dimensions than the data", op, c.GetName(), in)
				}
			}
		}
	}
	return p, nil
}

// terminal reports whether c is a layer that reads the pruned tensor t as
// its data input, with a constant weight whose input dimension can shrink.
func terminal(ix *graph.Index, c *onnxpb.NodeProto, t string, lay layout, channels int) (cut, bool, error) {
	op := c.GetOpType()
	if op != "Conv" && op != "Gemm" && op != "MatMul" {
		return cut{}, false, nil
	}
	in := c.GetInput()
	if len(in) < 2 || in[0] != t || slices.Contains(in[1:], t) {
		return cut{}, false, fmt.Errorf("%s %q reads the pruned tensor %q as a weight", op, c.GetName(), t)
	}
	w := ix.Initializer(in[1])
	if w == nil || graph.DataType(w) != onnxpb.TensorProto_FLOAT {
		return cut{}, false, fmt.Errorf("%s %q reads %q but its weight is not a constant float", op, c.GetName(), t)
	}
	wd := w.GetDims()
	switch op {
	case "Conv":
		if graph.AttrInt(c, "group", 1) != 1 {
			return cut{}, false, fmt.Errorf("grouped Conv %q reads %q", c.GetName(), t)
		}
		if lay.rank != len(wd) || lay.fromRight != lay.rank-2 || wd[1] != int64(channels) {
			return cut{}, false, fmt.Errorf("convolution %q reads %q with channels on another axis", c.GetName(), t)
		}
		return cut{c, 1, 1}, true, nil
	case "Gemm":
		axis := 0
		if graph.AttrInt(c, "transB", 0) != 0 {
			axis = 1
		}
		if graph.AttrInt(c, "transA", 0) != 0 || lay.fromRight != 0 || wd[axis] != int64(channels) {
			return cut{}, false, fmt.Errorf("gemm node %q reads %q with channels on another axis", c.GetName(), t)
		}
		return cut{c, 1, axis}, true, nil
	default:
		if len(wd) != 2 || lay.fromRight != 0 || wd[0] != int64(channels) {
			return cut{}, false, fmt.Errorf("MatMul %q reads %q with channels on another axis", c.GetName(), t)
		}
		return cut{c, 1, 0}, true, nil
	}
}

// apply keeps the channels with the largest L1 norm and slices every
// tensor the plan lists.
func (p *plan) apply(ix *graph.Index, amount float64) (Layer, error) {
	n := p.layer
	w := ix.Initializer(n.GetInput()[1])
	data, err := graph.Floats(w)
	if err != nil {
		return Layer{}, fmt.Errorf("%s %q: %w", n.GetOpType(), n.GetName(), err)
	}
	axis := p.cuts[0].axis
	norms := make([]float64, p.channels)
	ch, inner := layoutOf(w.GetDims(), axis)
	for i, v := range data {
		norms[(i/inner)%ch] += math.Abs(float64(v))
	}
	remove := int(math.Round(amount * float64(p.channels)))
	remove = min(remove, p.channels-1)
	order := make([]int, p.channels)
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(norms[b], norms[a]) })
	keep := slices.Clone(order[:p.channels-remove])
	slices.Sort(keep)
	var params, zeros int64
	for k, c := range p.cuts {
		name := c.node.GetInput()[c.input]
		t := ix.Initializer(name)
		vals, err := graph.Floats(t)
		if err != nil {
			return Layer{}, fmt.Errorf("%s %q input %q: %w", c.node.GetOpType(), c.node.GetName(), name, err)
		}
		sliced, dims := sliceAxis(vals, t.GetDims(), c.axis, keep)
		nt := graph.FloatTensor(ix.NewName(name+"_pruned"), dims, sliced)
		ix.AddInitializer(nt)
		c.node.Input[c.input] = nt.GetName()
		if k == 0 {
			params, zeros = int64(len(sliced)), countZeros(sliced)
		}
	}
	return Layer{Node: n.GetName(), Op: n.GetOpType(), Weight: w.GetName(), Params: params, Zeros: zeros,
		Sparsity: float64(zeros) / float64(max(params, 1)), ChannelsBefore: p.channels, ChannelsAfter: len(keep)}, nil
}

// layoutOf returns the size of dims[axis] and the number of elements after
// it, so that element i is at index (i/inner)%ch along axis.
func layoutOf(dims []int64, axis int) (ch, inner int) {
	inner = 1
	for _, d := range dims[axis+1:] {
		inner *= int(d)
	}
	return int(dims[axis]), inner
}

// sliceAxis keeps the given indices of axis.
func sliceAxis(data []float32, dims []int64, axis int, keep []int) ([]float32, []int64) {
	ch, inner := layoutOf(dims, axis)
	outer := len(data) / (ch * inner)
	out := make([]float32, 0, outer*len(keep)*inner)
	for o := range outer {
		for _, k := range keep {
			base := (o*ch + k) * inner
			out = append(out, data[base:base+inner]...)
		}
	}
	nd := slices.Clone(dims)
	nd[axis] = int64(len(keep))
	return out, nd
}
