package quantize

import (
	"fmt"
	"slices"

	"github.com/edgeflow/edgeflow/models"
	"github.com/edgeflow/edgeflow/models/graph"
	"github.com/edgeflow/edgeflow/models/onnxpb"
)

// Static quantises m to QDQ format with activation ranges calibrated by
// running m on calib. The input model is not modified. A model that cannot
// be quantised returns an error wrapping ErrNotQuantizable, never a broken
// model: the result is loaded into ONNX Runtime before it is returned.
func Static(m *onnxpb.ModelProto, calib Calibrator, opts Options) (*onnxpb.ModelProto, *Report, error) {
	r := &Report{Mode: "static"}
	q, err := planStatic(m, &opts, r)
	if err != nil {
		return nil, nil, err
	}
	st, kept, n, err := calibrate(q.m, q.acts, calib, &opts, max(opts.SensitivitySamples, opts.CheckSamples))
	if err != nil {
		return nil, nil, err
	}
	r.Samples = n
	if err := q.quantize(st, kept); err != nil {
		return nil, nil, err
	}
	if err := finish(q.m, r, &opts, kept[:min(len(kept), opts.CheckSamples)]); err != nil {
		return nil, nil, err
	}
	return q.m, r, nil
}

// planStatic prepares a copy of m and picks the nodes to quantise and the
// activations to calibrate.
func planStatic(m *onnxpb.ModelProto, opts *Options, r *Report) (*quantizer, error) {
	out, err := prepare(m, opts, r, 10)
	if err != nil {
		return nil, err
	}
	r.Method = string(opts.Method)
	stem := map[string]bool{}
	if opts.FloatStem {
		for _, n := range stemNodes(out.GetGraph()) {
			r.Skipped = append(r.Skipped, fmt.Sprintf("%s %q: stem kept float", n.GetOpType(), n.GetName()))
			opts.Exclude = append(slices.Clip(opts.Exclude), n.GetName())
			stem[n.GetName()] = true
		}
	}
	q := newQuantizer(out, opts, r)
	q.stem = stem
	q.plan()
	if len(q.nodes) == 0 {
		return nil, fmt.Errorf("%w: no %v node with float inputs to quantise", ErrNotQuantizable, opts.Ops)
	}
	return q, nil
}

// quantize turns the calibration statistics st into activation parameters
// and rewrites the graph; kept are the samples the sensitivity analysis
// runs (the only part that needs ONNX Runtime, and only with KeepFloat).
func (q *quantizer) quantize(st map[string]*stats, kept [][]models.Tensor) error {
	opts, r := q.opts, q.r
	q.params = map[string]qparams{}
	for _, name := range q.acts {
		s, ok := st[name]
		if !ok {
			continue // not float: the nodes that need it stay float
		}
		lo, hi := s.rng(opts.Method, opts.Percentile)
		p := activationParams(lo, hi, opts.SignedActivations)
		if sd := s.std(); opts.MaxStep > 0 && sd > 0 && float64(p.scale) > opts.MaxStep*sd {
			r.Skipped = append(r.Skipped, fmt.Sprintf("activation %q: range [%g, %g] gives a step of %.3g standard deviations; kept float", name, lo, hi, float64(p.scale)/sd))
			continue
		}
		q.params[name] = p
	}
	if opts.BiasCorrection {
		q.means = map[string][]float64{}
		for name, s := range st {
			if m := s.channelMeans(); m != nil {
				q.means[name] = m
			}
		}
	}
	for out := range q.share {
		in := q.shareRoot(out)
		if p, ok := q.params[in]; ok {
			if _, ok := q.params[out]; ok {
				q.params[out] = p
			}
		}
	}
	if opts.KeepFloat > 0 {
		if err := q.sensitivity(kept[:min(len(kept), opts.SensitivitySamples)], opts.KeepFloat); err != nil {
			return err
		}
	}
	q.dropIslands()
	if err := q.rewrite(); err != nil {
		return err
	}
	if opts.FoldFocus {
		var err error
		if r.FocusFolded, err = FoldFocus(q.m); err != nil {
			return err
		}
	}
	r.HalfFloats = halfFloats(q.m.GetGraph())
	return nil
}

// islandFloatWeights is the largest weight (in elements) of an unfused
// Conv/Gemm/MatMul that stays float (see rewrite).
const islandFloatWeights = 16 << 10

// role says how a quantised op's inputs are treated.
type role struct {
	acts   []int // activation inputs (all inputs when nil and allActs)
	weight int   // input index of the weight, -1 for none
	bias   int   // input index of the bias, -1 for none
	all    bool  // every input is an activation (Concat)
	keep   bool  // the outputs keep the input's parameters (MaxPool, data movement)
}

// minInputs is how many inputs a node of the role must have for the
// quantiser to read the ones the role names.
func (rl role) minInputs() int {
	n := 1
	for _, a := range rl.acts {
		n = max(n, a+1)
	}
	return max(n, rl.weight+1)
}

var roles = map[string]role{
	"Conv":              {acts: []int{0}, weight: 1, bias: 2},
	"Gemm":              {acts: []int{0}, weight: 1, bias: 2},
	"MatMul":            {acts: []int{0}, weight: 1, bias: -1},
	"Add":               {acts: []int{0, 1}, weight: -1, bias: -1},
	"Concat":            {all: true, weight: -1, bias: -1},
	"MaxPool":           {acts: []int{0}, weight: -1, bias: -1, keep: true},
	"AveragePool":       {acts: []int{0}, weight: -1, bias: -1},
	"GlobalAveragePool": {acts: []int{0}, weight: -1, bias: -1},
	"Sigmoid":           {acts: []int{0}, weight: -1, bias: -1},
	"Mul":               {acts: []int{0, 1}, weight: -1, bias: -1},
	// Data movement (MoveOps): values are only moved, so the outputs share
	// the input's parameters and ORT runs the op on the uint8 data (it
	// drops DQ -> op -> Q with equal parameters, or runs Split on uint8).
	// Not Resize: NanoDet's bilinear upsampling on uint8 measured slower
	// and less accurate (BENCHMARKS.md, "int8 detectors").
	"Split":     {acts: []int{0}, weight: -1, bias: -1, keep: true},
	"Reshape":   {acts: []int{0}, weight: -1, bias: -1, keep: true},
	"Transpose": {acts: []int{0}, weight: -1, bias: -1, keep: true},
	"Slice":     {acts: []int{0}, weight: -1, bias: -1, keep: true},
}

// quantizer holds the state of one static quantisation.
type quantizer struct {
	m    *onnxpb.ModelProto
	ix   *graph.Index
	opts *Options
	r    *Report

	nodes  []*onnxpb.NodeProto
	acts   []string          // activation tensors to calibrate and quantise
	isAct  map[string]bool   // set of acts
	stem   map[string]bool   // nodes Options.FloatStem keeps float (also in opts.Exclude)
	share  map[string]string // output tensor -> input tensor whose params it takes
	params map[string]qparams
	// means are the per-channel means of activations on the calibration
	// data, for bias correction (nil: none).
	means map[string][]float64
	tails map[string]bool
	// pairs records the activation QDQ pairs rewrite inserted, for the
	// sensitivity analysis.
	pairs []qdqPair
}

// qdqPair is one activation's QuantizeLinear -> DequantizeLinear: the
// float tensor going in and the DequantizeLinear node.
type qdqPair struct {
	act, float string
	dq         *onnxpb.NodeProto
}

func newQuantizer(m *onnxpb.ModelProto, opts *Options, r *Report) *quantizer {
	return &quantizer{m: m, ix: graph.NewIndex(m.GetGraph()), opts: opts, r: r,
		isAct: map[string]bool{}, share: map[string]string{}}
}

func (q *quantizer) addAct(name string) {
	if name == "" || q.isAct[name] || q.ix.Initializer(name) != nil || q.tail(name) {
		return
	}
	q.isAct[name] = true
	q.acts = append(q.acts, name)
}

// plan picks the nodes to quantise and the activation tensors they need.
func (q *quantizer) plan() {
	for _, n := range q.m.GetGraph().GetNode() {
		rl, ok := roles[n.GetOpType()]
		if !ok || !slices.Contains(q.opts.Ops, n.GetOpType()) || n.GetDomain() != "" {
			continue
		}
		if slices.Contains(q.opts.Exclude, n.GetName()) {
			if !q.stem[n.GetName()] { // reported as the stem already
				q.r.Skipped = append(q.r.Skipped, fmt.Sprintf("%s %q: excluded", n.GetOpType(), n.GetName()))
			}
			continue
		}
		if n.GetOpType() == "Concat" && q.tail(n.GetOutput()[0]) {
			q.r.Skipped = append(q.r.Skipped, fmt.Sprintf("Concat %q: it only assembles the model's output", n.GetName()))
			continue
		}
		if why := q.unsupported(n); why != "" {
			q.r.Skipped = append(q.r.Skipped, fmt.Sprintf("%s %q: %s", n.GetOpType(), n.GetName(), why))
			continue
		}
		q.nodes = append(q.nodes, n)
		for i, in := range n.GetInput() {
			if rl.all || slices.Contains(rl.acts, i) || (i == rl.weight && q.ix.Initializer(in) == nil) {
				q.addAct(in)
			}
		}
		if rl.keep {
			for _, out := range n.GetOutput() {
				if out != "" {
					q.addAct(out)
					q.share[out] = n.GetInput()[0]
				}
			}
			continue
		}
		q.addAct(q.foldedOutput(n))
	}
}

// shareRoot follows q.share from an output to the tensor whose parameters
// it takes: through a chain of data movement (Reshape -> Transpose ->
// Reshape -> Split, a channel shuffle) every tensor shares the first one's.
func (q *quantizer) shareRoot(name string) string {
	for range len(q.share) + 1 { // bounded: a malformed graph cannot loop
		in, ok := q.share[name]
		if !ok {
			return name
		}
		name = in
	}
	return name
}

// tailOps move or squash values on their way to a graph output without
// mixing them; tensors that reach an output only through them stay float.
var tailOps = map[string]bool{
	"Reshape": true, "Transpose": true, "Concat": true, "Flatten": true, "Squeeze": true, "Unsqueeze": true,
	"Slice": true, "Split": true, "Identity": true, "Gather": true, "Sigmoid": true, "Softmax": true,
	"Exp": true, "Tanh": true,
}

// tail reports whether name is a graph output or reaches the graph outputs
// only through tailOps. Detector heads concatenate box regressions (wide
// range) with scores (0..1); one 8-bit scale for both would wipe out the
// scores, so the output's assembly stays float, as do the activations
// (sigmoid) that make the scores.
func (q *quantizer) tail(name string) bool {
	if q.tails == nil {
		q.tails = map[string]bool{}
	}
	if v, ok := q.tails[name]; ok {
		return v
	}
	q.tails[name] = false // cycles cannot occur; this guards malformed graphs
	v := q.ix.IsGraphOutput(name)
	if !v {
		cons := q.ix.Consumers(name)
		v = len(cons) > 0
		for _, c := range cons {
			if !tailOps[c.GetOpType()] {
				v = false
				break
			}
			for _, o := range c.GetOutput() {
				if o != "" && !q.tail(o) {
					v = false
				}
			}
			if !v {
				break
			}
		}
	}
	q.tails[name] = v
	return v
}

// unsupported says why a node of a quantisable type is left in float.
func (q *quantizer) unsupported(n *onnxpb.NodeProto) string {
	if need := roles[n.GetOpType()].minInputs(); len(n.GetInput()) < need {
		// A malformed model: left as it is, for ONNX Runtime to refuse
		// with its own account of what is wrong.
		return fmt.Sprintf("it has %d inputs, %s takes at least %d", len(n.GetInput()), n.GetOpType(), need)
	}
	if rl := roles[n.GetOpType()]; rl.weight >= 0 {
		if w := q.ix.Initializer(n.GetInput()[rl.weight]); w != nil && emptyWeight(w) {
			return "its weight holds no values"
		}
	}
	switch n.GetOpType() {
	case "Gemm":
		if graph.AttrInt(n, "transA", 0) != 0 {
			return "transA=1"
		}
		if q.ix.Initializer(n.GetInput()[1]) == nil {
			return "its B input is not a constant weight"
		}
	case "Conv":
		if len(n.GetInput()) < 2 || q.ix.Initializer(n.GetInput()[1]) == nil {
			return "its weight is not a constant"
		}
	case "MaxPool":
		if len(n.GetOutput()) > 1 && n.GetOutput()[1] != "" {
			return "it returns indices"
		}
	case "Add", "Mul":
		for _, in := range n.GetInput() {
			if q.ix.Initializer(in) != nil {
				return "one input is a constant"
			}
		}
	}
	return ""
}

// foldedOutput returns the tensor whose range quantises n's output: n's own
// output, or, when the only thing that reads it is a Relu or Clip, that
// activation's output, so that ONNX Runtime can fold the activation into
// the quantised op (its output range then starts at the clip point).
func (q *quantizer) foldedOutput(n *onnxpb.NodeProto) string {
	out := n.GetOutput()[0]
	cons := q.ix.Consumers(out)
	if len(cons) != 1 || q.ix.IsGraphOutput(out) {
		return out
	}
	c := cons[0]
	if slices.Contains(q.opts.Exclude, c.GetName()) {
		return out
	}
	switch c.GetOpType() {
	case "Relu":
		return c.GetOutput()[0]
	case "Clip":
		for _, in := range c.GetInput()[1:] {
			if in != "" && q.ix.Initializer(in) == nil {
				return out // a computed clip range cannot be folded
			}
		}
		return c.GetOutput()[0]
	}
	return out
}

// rewrite inserts the Q/DQ pairs and int8 weights.
func (q *quantizer) rewrite() error {
	g := q.m.GetGraph()
	// The first input's parameters size the bias; remember the names before
	// graph inputs are rewired to their dequantised copies.
	first := make([]string, len(q.nodes))
	outQuantized := make([]bool, len(q.nodes))
	for i, n := range q.nodes {
		first[i] = n.GetInput()[0]
		_, outQuantized[i] = q.params[q.foldedOutput(n)]
	}
	// Activations first: each gets QuantizeLinear -> DequantizeLinear.
	// The producer's output is renamed and the DequantizeLinear takes over
	// the old name, so every reader sees the quantised value.
	for _, name := range q.acts {
		p, ok := q.params[name]
		if !ok {
			continue
		}
		scale := q.ix.NewName(name + "_s")
		zp := q.ix.NewName(name + "_z")
		q.ix.AddInitializer(graph.FloatTensor(scale, nil, []float32{p.scale}))
		if p.typ == onnxpb.TensorProto_INT8 {
			q.ix.AddInitializer(graph.Int8Tensor(zp, nil, []int8{int8(p.zp)}))
		} else {
			q.ix.AddInitializer(graph.Uint8Tensor(zp, nil, []uint8{uint8(p.zp)}))
		}
		quant := q.ix.NewName(name + "_q")
		if prod := q.ix.Producer(name); prod != nil {
			float := q.ix.NewName(name + "_f")
			for i, o := range prod.Output {
				if o == name {
					prod.Output[i] = float
				}
			}
			dq := graph.Node("DequantizeLinear", "", []string{quant, scale, zp}, []string{name})
			g.Node = append(g.Node,
				graph.Node("QuantizeLinear", "", []string{float, scale, zp}, []string{quant}), dq)
			q.pairs = append(q.pairs, qdqPair{act: name, float: float, dq: dq})
		} else { // a graph input: readers switch to the dequantised copy
			deq := q.ix.NewName(name + "_dq")
			for _, c := range q.ix.Consumers(name) {
				for i, in := range c.Input {
					if in == name {
						c.Input[i] = deq
					}
				}
			}
			dq := graph.Node("DequantizeLinear", "", []string{quant, scale, zp}, []string{deq})
			g.Node = append(g.Node,
				graph.Node("QuantizeLinear", "", []string{name, scale, zp}, []string{quant}), dq)
			q.pairs = append(q.pairs, qdqPair{act: name, float: name, dq: dq})
		}
		q.r.Activations++
	}
	// Then weights and biases of the nodes whose input is quantised.
	for k, n := range q.nodes {
		rl := roles[n.GetOpType()]
		in0, ok := q.params[first[k]]
		hasWeight := rl.weight >= 0 && rl.weight < len(n.GetInput()) && q.ix.Initializer(n.GetInput()[rl.weight]) != nil
		if hasWeight && !q.opts.WeightOnlyIslands {
			// ORT fuses a Conv into its int8 kernel only when both its
			// input and its output are quantised. Otherwise it runs
			// the float kernel, which prepacks (and for Conv re-lays out,
			// NCHWc) a constant float weight once, but dequantises an int8
			// one on every run and cannot prepack it. Small weights (the
			// stem's convolutions, which run at the highest resolution)
			// stay float; large ones are stored int8 to keep the file small.
			w := q.ix.Initializer(n.GetInput()[rl.weight])
			// (Gemm and MatMul with a quantised input still fuse when
			// their output stays float: QGemm and MatMulIntegerToFloat
			// have float outputs; QLinearConv has none.)
			unfused := !ok || (!outQuantized[k] && n.GetOpType() == "Conv")
			if unfused && graph.Elements(w.GetDims()) <= islandFloatWeights {
				q.r.Skipped = append(q.r.Skipped, fmt.Sprintf("%s %q: input or output kept float, weight kept float", n.GetOpType(), n.GetName()))
				continue
			}
		}
		if !ok && n.GetOpType() != "Concat" {
			if hasWeight {
				// The input stays float; the weight can still be stored
				// as int8 (weight-only) to keep the file small.
				q.r.Skipped = append(q.r.Skipped, fmt.Sprintf("%s %q: input kept float, weight-only int8", n.GetOpType(), n.GetName()))
				axis := weightAxis(n, q.ix.Initializer(n.GetInput()[rl.weight]))
				if !q.r.PerChannel {
					axis = -1
				}
				_, shift, err := q.weight(n, rl.weight, axis, first[k])
				if err != nil {
					return err
				}
				if err := q.floatBias(n, shift); err != nil {
					return err
				}
			}
			continue
		}
		q.r.Quantized[n.GetOpType()]++
		if !hasWeight {
			continue
		}
		axis := weightAxis(n, q.ix.Initializer(n.GetInput()[rl.weight]))
		if !q.r.PerChannel {
			axis = -1
		}
		wScales, shift, err := q.weight(n, rl.weight, axis, first[k])
		if err != nil {
			return err
		}
		if err := q.floatBias(n, shift); err != nil {
			return err
		}
		if rl.bias >= 0 && rl.bias < len(n.GetInput()) && n.GetInput()[rl.bias] != "" {
			if err := q.bias(n, rl.bias, in0.scale, wScales); err != nil {
				return err
			}
		}
	}
	return nil
}

// weightAxis is the axis of a weight's output channels: Conv [M,C/g,kH,kW]
// -> 0; Gemm B is [N,K] with transB=1 -> 0, else [K,N] -> 1; MatMul B
// [K,N] -> 1. Weights of other ranks get -1 (per tensor).
func weightAxis(n *onnxpb.NodeProto, w *onnxpb.TensorProto) int {
	rank := len(w.GetDims())
	switch n.GetOpType() {
	case "Conv":
		return 0
	case "Gemm":
		if graph.AttrInt(n, "transB", 0) != 0 {
			return 0
		}
		return 1
	case "MatMul":
		if rank == 2 {
			return 1
		}
	}
	return -1
}

// weight replaces input i of n (a float initializer) with int8 values
// behind a DequantizeLinear and returns the scales, and for a Conv whose
// input (named in) has known channel means, the shift of every output
// channel's mean that rounding the weights causes (see biasShift).
func (q *quantizer) weight(n *onnxpb.NodeProto, i, axis int, in string) ([]float32, []float64, error) {
	w := q.ix.Initializer(n.GetInput()[i])
	data, err := graph.Floats(w)
	if err == nil {
		err = finite(w, data)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("%s %q: %w", n.GetOpType(), n.GetName(), err)
	}
	dims := w.GetDims()
	if axis >= len(dims) {
		axis = -1
	}
	scales := weightScales(data, dims, axis)
	qw := quantizeWeights(data, dims, axis, scales)
	var shift []float64
	if n.GetOpType() == "Conv" && q.means[in] != nil {
		shift = biasShift(data, qw, dims, axis, scales, q.means[in], int(graph.AttrInt(n, "group", 1)))
	}
	base := w.GetName()
	qName, sName, zName := q.ix.NewName(base+"_q"), q.ix.NewName(base+"_s"), q.ix.NewName(base+"_z")
	q.ix.AddInitializer(graph.Int8Tensor(qName, dims, qw))
	var sDims []int64
	if axis >= 0 {
		sDims = []int64{int64(len(scales))}
	}
	q.ix.AddInitializer(graph.FloatTensor(sName, sDims, scales))
	q.ix.AddInitializer(graph.Int8Tensor(zName, sDims, make([]int8, len(scales))))
	deq := q.ix.NewName(base + "_dq")
	dq := graph.Node("DequantizeLinear", "", []string{qName, sName, zName}, []string{deq})
	if axis >= 0 {
		dq.Attribute = append(dq.Attribute, graph.IntAttr("axis", int64(axis)))
	}
	q.m.Graph.Node = append(q.m.Graph.Node, dq)
	n.Input[i] = deq
	q.r.Weights++
	return scales, shift, nil
}

// bias replaces input i of n with int32 values whose scale is the input's
// scale times the weight's, as QLinearConv and QGemm expect.
func (q *quantizer) bias(n *onnxpb.NodeProto, i int, inScale float32, wScales []float32) error {
	b := q.ix.Initializer(n.GetInput()[i])
	if b == nil {
		return nil // a computed bias stays float
	}
	data, err := graph.Floats(b)
	if err == nil {
		err = finite(b, data)
	}
	if err != nil {
		return fmt.Errorf("%s %q: %w", n.GetOpType(), n.GetName(), err)
	}
	if len(b.GetDims()) != 1 || (len(wScales) > 1 && len(data) != len(wScales)) {
		return nil // a broadcast Gemm bias of another shape stays float
	}
	if n.GetOpType() == "Gemm" && (graph.AttrFloat(n, "alpha", 1) != 1 || graph.AttrFloat(n, "beta", 1) != 1) {
		return nil
	}
	qb, scales := quantizeBias(data, inScale, wScales)
	base := b.GetName()
	qName, sName, zName := q.ix.NewName(base+"_q"), q.ix.NewName(base+"_s"), q.ix.NewName(base+"_z")
	q.ix.AddInitializer(graph.Int32Tensor(qName, b.GetDims(), qb))
	var sDims []int64
	if len(scales) > 1 {
		sDims = []int64{int64(len(scales))}
	}
	q.ix.AddInitializer(graph.FloatTensor(sName, sDims, scales))
	q.ix.AddInitializer(graph.Int32Tensor(zName, sDims, make([]int32, len(scales))))
	deq := q.ix.NewName(base + "_dq")
	dq := graph.Node("DequantizeLinear", "", []string{qName, sName, zName}, []string{deq})
	if len(scales) > 1 {
		dq.Attribute = append(dq.Attribute, graph.IntAttr("axis", 0))
	}
	q.m.Graph.Node = append(q.m.Graph.Node, dq)
	n.Input[i] = deq
	q.r.Weights++
	return nil
}

// stemOps pass a stem's channels on without mixing them.
var stemOps = map[string]bool{"Relu": true, "LeakyRelu": true, "Clip": true, "MaxPool": true}

// stemNodes returns the nodes Options.FloatStem keeps float: every Conv
// that reads a graph input, the stemOps that follow it, and the Convs
// reading what those produce (the tensor between them is the stem's
// output: keeping those readers float is what keeps it unrounded).
func stemNodes(g *onnxpb.GraphProto) []*onnxpb.NodeProto {
	ix := graph.NewIndex(g)
	var out []*onnxpb.NodeProto
	seen := map[*onnxpb.NodeProto]bool{}
	add := func(n *onnxpb.NodeProto) bool {
		if seen[n] {
			return false
		}
		seen[n] = true
		out = append(out, n)
		return true
	}
	var follow func(t string)
	follow = func(t string) {
		for _, c := range ix.Consumers(t) {
			switch {
			case c.GetOpType() == "Conv":
				add(c)
			case stemOps[c.GetOpType()] && len(c.GetOutput()) > 0:
				if add(c) {
					follow(c.GetOutput()[0])
				}
			}
		}
	}
	for _, in := range g.GetInput() {
		if !ix.IsGraphInput(in.GetName()) {
			continue
		}
		for _, c := range ix.Consumers(in.GetName()) {
			if c.GetOpType() == "Conv" && c.GetDomain() == "" && len(c.GetOutput()) > 0 && add(c) {
				follow(c.GetOutput()[0])
			}
		}
	}
	return out
}
