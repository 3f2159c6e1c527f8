package tflite

import (
	"fmt"

	"github.com/edgeflow/edgeflow/models/graph"
	"github.com/edgeflow/edgeflow/models/onnxpb"
	"github.com/edgeflow/edgeflow/models/tflite/schema"
)

// translators maps each supported TFLite operator to the function that
// emits its ONNX nodes.
var translators map[schema.BuiltinOperator]func(*converter, Operator) error

func init() {
	translators = map[schema.BuiltinOperator]func(*converter, Operator) error{
		schema.BuiltinOperatorCONV_2D:           (*converter).conv,
		schema.BuiltinOperatorDEPTHWISE_CONV_2D: (*converter).conv,
		schema.BuiltinOperatorMAX_POOL_2D:       (*converter).pool,
		schema.BuiltinOperatorAVERAGE_POOL_2D:   (*converter).pool,
		schema.BuiltinOperatorADD:               elementwise("Add"),
		schema.BuiltinOperatorSUB:               elementwise("Sub"),
		schema.BuiltinOperatorMUL:               elementwise("Mul"),
		schema.BuiltinOperatorDIV:               elementwise("Div"),
		schema.BuiltinOperatorMAXIMUM:           elementwise("Max"),
		schema.BuiltinOperatorMINIMUM:           elementwise("Min"),
		schema.BuiltinOperatorPRELU:             elementwise("PRelu"),
		schema.BuiltinOperatorRELU:              unary("Relu"),
		schema.BuiltinOperatorLOGISTIC:          unary("Sigmoid"),
		schema.BuiltinOperatorTANH:              unary("Tanh"),
		schema.BuiltinOperatorRELU6:             (*converter).clipOp,
		schema.BuiltinOperatorRELU_N1_TO_1:      (*converter).clipOp,
		schema.BuiltinOperatorLEAKY_RELU:        (*converter).leakyRelu,
		schema.BuiltinOperatorPAD:               (*converter).pad,
		schema.BuiltinOperatorRESHAPE:           (*converter).reshape,
		schema.BuiltinOperatorCONCATENATION:     (*converter).concat,
		schema.BuiltinOperatorRESIZE_BILINEAR:   (*converter).resize,
		schema.BuiltinOperatorDEPTH_TO_SPACE:    (*converter).depthToSpace,
		schema.BuiltinOperatorSOFTMAX:           (*converter).softmax,
		schema.BuiltinOperatorFULLY_CONNECTED:   (*converter).fullyConnected,
		schema.BuiltinOperatorMEAN:              (*converter).mean,
	}
}

func (c *converter) want(op Operator, in, out int) error {
	if len(op.Inputs) < in || len(op.Outputs) != out {
		return fmt.Errorf("want %d inputs and %d outputs, got %d and %d", in, out, len(op.Inputs), len(op.Outputs))
	}
	for _, i := range op.Inputs[:in] {
		if i < 0 {
			return fmt.Errorf("a required input is missing")
		}
	}
	return nil
}

func (c *converter) conv(op Operator) error {
	if err := c.want(op, 2, 1); err != nil {
		return err
	}
	x, w, o := op.Inputs[0], op.Inputs[1], op.Outputs[0]
	xs := c.m.Tensors[x].Shape
	if len(xs) != 4 {
		return fmt.Errorf("input %q has shape %v, want NHWC", c.m.Tensors[x].Name, xs)
	}
	k, ok := c.consts[w]
	if !ok || len(k.Shape) != 4 || k.Int {
		return fmt.Errorf("filter %q is not a constant float 4-D tensor (only constant weights are supported)", c.m.Tensors[w].Name)
	}
	opt := op.Options
	kh, kw := k.Shape[1], k.Shape[2]
	var weights *constant
	group := 1
	if op.Code == schema.BuiltinOperatorDEPTHWISE_CONV_2D {
		// [1, KH, KW, C·M] -> [C·M, 1, KH, KW], one group per input channel.
		if k.Shape[0] != 1 || k.Shape[3]%xs[3] != 0 {
			return fmt.Errorf("depthwise filter %v does not fit %d input channels", k.Shape, xs[3])
		}
		weights = k.permute([]int{3, 0, 1, 2})
		group = xs[3]
	} else {
		// [O, KH, KW, I] -> [O, I, KH, KW]; I < C is a grouped convolution.
		if k.Shape[3] == 0 || xs[3]%k.Shape[3] != 0 {
			return fmt.Errorf("filter %v does not fit %d input channels", k.Shape, xs[3])
		}
		weights = k.permute([]int{0, 3, 1, 2})
		group = xs[3] / k.Shape[3]
	}
	xn, err := c.input(x, true)
	if err != nil {
		return err
	}
	wn := c.unique(c.m.Tensors[w].Name)
	c.g.Initializer = append(c.g.Initializer, initializer(wn, weights))
	ins := []string{xn, wn}
	if len(op.Inputs) > 2 && op.Inputs[2] >= 0 {
		b := op.Inputs[2]
		if _, ok := c.consts[b]; !ok {
			return fmt.Errorf("bias %q is not a constant", c.m.Tensors[b].Name)
		}
		bn, err := c.input(b, false)
		if err != nil {
			return err
		}
		ins = append(ins, bn)
	}
	attrs := []*onnxpb.AttributeProto{
		graph.IntsAttr("kernel_shape", int64(kh), int64(kw)),
		graph.IntsAttr("strides", int64(opt.StrideH), int64(opt.StrideW)),
		graph.IntsAttr("dilations", int64(opt.DilationH), int64(opt.DilationW)),
		graph.IntAttr("group", int64(group)),
	}
	attrs = append(attrs, c.pads(opt.Padding, xs, kh, kw, opt.StrideH, opt.StrideW, opt.DilationH, opt.DilationW))
	return c.activation(opt.Activation, o, true, func(dst string) {
		c.node("Conv", ins, []string{dst}, attrs...)
	})
}

// pads writes TFLite's padding rule as ONNX's explicit pads
// [top, left, bottom, right].
func (c *converter) pads(p schema.Padding, nhwc []int, kh, kw, sh, sw, dh, dw int) *onnxpb.AttributeProto {
	if p == schema.PaddingVALID {
		return graph.IntsAttr("pads", 0, 0, 0, 0)
	}
	t, b := samePads(nhwc[1], kh, sh, dh)
	l, r := samePads(nhwc[2], kw, sw, dw)
	return graph.IntsAttr("pads", int64(t), int64(l), int64(b), int64(r))
}

func (c *converter) pool(op Operator) error {
	if err := c.want(op, 1, 1); err != nil {
		return err
	}
	x, o := op.Inputs[0], op.Outputs[0]
	xs := c.m.Tensors[x].Shape
	if len(xs) != 4 {
		return fmt.Errorf("input has shape %v, want NHWC", xs)
	}
	opt := op.Options
	xn, err := c.input(x, true)
	if err != nil {
		return err
	}
	kind := "MaxPool"
	if op.Code == schema.BuiltinOperatorAVERAGE_POOL_2D {
		// TFLite averages over the pixels inside the image only, which is
		// ONNX's default count_include_pad=0.
		kind = "AveragePool"
	}
	attrs := []*onnxpb.AttributeProto{
		graph.IntsAttr("kernel_shape", int64(opt.FilterH), int64(opt.FilterW)),
		graph.IntsAttr("strides", int64(opt.StrideH), int64(opt.StrideW)),
		c.pads(opt.Padding, xs, opt.FilterH, opt.FilterW, opt.StrideH, opt.StrideW, 1, 1),
	}
	return c.activation(opt.Activation, o, true, func(dst string) {
		c.node(kind, []string{xn}, []string{dst}, attrs...)
	})
}

// layoutFor chooses the layout of an elementwise operator over ins: NCHW
// when a rank-4 activation among them is held NCHW and every other input is
// rank 4, a constant or a scalar; TFLite's layout otherwise.
func (c *converter) layoutFor(ins []int) bool {
	nchw := false
	for _, i := range ins {
		if i >= 0 && c.isNCHW(i) {
			nchw = true
		}
	}
	if !nchw {
		return false
	}
	for _, i := range ins {
		if i < 0 || c.rank4(i) {
			continue
		}
		if _, ok := c.consts[i]; ok {
			continue
		}
		if elements(c.m.Tensors[i].Shape) != 1 {
			return false
		}
	}
	return true
}

// operand names input i of an elementwise operator in the chosen layout.
func (c *converter) operand(i int, nchw bool) (string, error) {
	if _, ok := c.consts[i]; ok {
		return c.constInput(i, nchw)
	}
	return c.input(i, nchw)
}

func elementwise(onnxOp string) func(*converter, Operator) error {
	return func(c *converter, op Operator) error {
		if err := c.want(op, 2, 1); err != nil {
			return err
		}
		nchw := c.layoutFor(op.Inputs[:2]) && c.rank4(op.Outputs[0])
		var ins []string
		for _, i := range op.Inputs[:2] {
			n, err := c.operand(i, nchw)
			if err != nil {
				return err
			}
			ins = append(ins, n)
		}
		return c.activation(op.Options.Activation, op.Outputs[0], nchw, func(dst string) {
			c.node(onnxOp, ins, []string{dst})
		})
	}
}

func unary(onnxOp string, attrs ...*onnxpb.AttributeProto) func(*converter, Operator) error {
	return func(c *converter, op Operator) error {
		if err := c.want(op, 1, 1); err != nil {
			return err
		}
		nchw := c.isNCHW(op.Inputs[0])
		xn, err := c.input(op.Inputs[0], nchw)
		if err != nil {
			return err
		}
		c.node(onnxOp, []string{xn}, []string{c.define(op.Outputs[0], nchw)}, attrs...)
		return nil
	}
}

func (c *converter) clipOp(op Operator) error {
	if err := c.want(op, 1, 1); err != nil {
		return err
	}
	nchw := c.isNCHW(op.Inputs[0])
	xn, err := c.input(op.Inputs[0], nchw)
	if err != nil {
		return err
	}
	lo := float32(0)
	hi := float32(6)
	if op.Code == schema.BuiltinOperatorRELU_N1_TO_1 {
		lo, hi = -1, 1
	}
	c.clip(xn, c.define(op.Outputs[0], nchw), lo, hi)
	return nil
}

func (c *converter) leakyRelu(op Operator) error {
	return unary("LeakyRelu", graph.FloatAttr("alpha", op.Options.Alpha))(c, op)
}

func (c *converter) softmax(op Operator) error {
	if op.Options.Beta != 1 {
		return fmt.Errorf("softmax beta %g (only 1 is supported)", op.Options.Beta)
	}
	// TFLite's softmax is over the last axis: keep TFLite's layout.
	if err := c.want(op, 1, 1); err != nil {
		return err
	}
	xn, err := c.input(op.Inputs[0], false)
	if err != nil {
		return err
	}
	c.node("Softmax", []string{xn}, []string{c.define(op.Outputs[0], false)}, graph.IntAttr("axis", -1))
	return nil
}

func (c *converter) pad(op Operator) error {
	if err := c.want(op, 2, 1); err != nil {
		return err
	}
	x, p := op.Inputs[0], op.Inputs[1]
	k, ok := c.consts[p]
	rank := len(c.m.Tensors[x].Shape)
	if !ok || !k.Int || len(k.I) != 2*rank {
		return fmt.Errorf("paddings %q must be a constant integer [%d,2] tensor", c.m.Tensors[p].Name, rank)
	}
	nchw := c.isNCHW(x) && rank == 4
	order := make([]int, rank)
	for i := range order {
		order[i] = i
	}
	if nchw {
		order = toNCHW
	}
	pads := make([]int64, 2*rank)
	for i, d := range order {
		pads[i], pads[rank+i] = k.I[2*d], k.I[2*d+1]
	}
	xn, err := c.input(x, nchw)
	if err != nil {
		return err
	}
	if c.feedsMaxPool(op.Outputs[0]) {
		// ONNX Runtime (since PR 18136) fuses Pad(0) -> MaxPool into the
		// pool's own padding, which the max ignores: windows of negative
		// values then lose the zeros TFLite pads with. Concatenating
		// zeros is the same padding, and ORT leaves it alone.
		shape := make([]int, rank)
		for i, d := range order {
			shape[i] = c.m.Tensors[x].Shape[d]
		}
		c.padByConcat(xn, c.define(op.Outputs[0], nchw), shape, pads)
		return nil
	}
	pn := c.unique(c.m.Tensors[p].Name + "_onnx")
	c.g.Initializer = append(c.g.Initializer, graph.Int64Tensor(pn, []int64{int64(2 * rank)}, pads))
	c.node("Pad", []string{xn, pn}, []string{c.define(op.Outputs[0], nchw)}, graph.StringAttr("mode", "constant"))
	return nil
}

func (c *converter) reshape(op Operator) error {
	if err := c.want(op, 1, 1); err != nil {
		return err
	}
	// The shape is the output tensor's (static in TFLite); the data order
	// is TFLite's, so the input goes in TFLite's layout.
	shape := c.m.Tensors[op.Outputs[0]].Shape
	if len(shape) == 0 && op.Options.hasNewShape {
		shape = op.Options.NewShape
	}
	xn, err := c.input(op.Inputs[0], false)
	if err != nil {
		return err
	}
	sn := c.unique(c.m.Tensors[op.Outputs[0]].Name + "_shape")
	c.g.Initializer = append(c.g.Initializer, graph.Int64Tensor(sn, []int64{int64(len(shape))}, dims64(shape)))
	c.node("Reshape", []string{xn, sn}, []string{c.define(op.Outputs[0], false)})
	return nil
}

func (c *converter) concat(op Operator) error {
	if len(op.Inputs) == 0 || len(op.Outputs) != 1 {
		return fmt.Errorf("want inputs and one output")
	}
	o := op.Outputs[0]
	rank := len(c.m.Tensors[o].Shape)
	axis := op.Options.Axis
	if axis < 0 {
		axis += rank
	}
	if axis < 0 || axis >= rank {
		return fmt.Errorf("axis %d for rank %d", op.Options.Axis, rank)
	}
	nchw := rank == 4 && c.layoutFor(op.Inputs)
	if nchw {
		axis = []int{0, 2, 3, 1}[axis] // NHWC axis -> its NCHW position
	}
	var ins []string
	for _, i := range op.Inputs {
		n, err := c.input(i, nchw)
		if err != nil {
			return err
		}
		ins = append(ins, n)
	}
	return c.activation(op.Options.Activation, o, nchw, func(dst string) {
		c.node("Concat", ins, []string{dst}, graph.IntAttr("axis", int64(axis)))
	})
}

func (c *converter) resize(op Operator) error {
	if err := c.want(op, 1, 1); err != nil {
		return err
	}
	x, o := op.Inputs[0], op.Outputs[0]
	os := c.m.Tensors[o].Shape
	if len(os) != 4 || !c.rank4(x) {
		return fmt.Errorf("resize of shape %v, want NHWC", os)
	}
	mode := "asymmetric"
	switch {
	case op.Options.AlignCorners:
		mode = "align_corners"
	case op.Options.HalfPixelCenters:
		mode = "half_pixel"
	}
	xn, err := c.input(x, true)
	if err != nil {
		return err
	}
	sn := c.unique(c.m.Tensors[o].Name + "_sizes")
	c.g.Initializer = append(c.g.Initializer, graph.Int64Tensor(sn, []int64{4}, []int64{int64(os[0]), int64(os[3]), int64(os[1]), int64(os[2])}))
	c.node("Resize", []string{xn, "", "", sn}, []string{c.define(o, true)},
		graph.StringAttr("mode", "linear"), graph.StringAttr("coordinate_transformation_mode", mode))
	return nil
}

func (c *converter) depthToSpace(op Operator) error {
	if err := c.want(op, 1, 1); err != nil {
		return err
	}
	if op.Options.BlockSize < 1 {
		return fmt.Errorf("block size %d", op.Options.BlockSize)
	}
	xn, err := c.input(op.Inputs[0], true)
	if err != nil {
		return err
	}
	// TensorFlow's depth_to_space orders the channels depth-column-row:
	// ONNX's DCR mode.
	c.node("DepthToSpace", []string{xn}, []string{c.define(op.Outputs[0], true)},
		graph.IntAttr("blocksize", int64(op.Options.BlockSize)), graph.StringAttr("mode", "DCR"))
	return nil
}

// feedsMaxPool reports whether a MAX_POOL_2D reads tensor i.
func (c *converter) feedsMaxPool(i int) bool {
	for _, op := range c.m.Operators {
		if op.Code == schema.BuiltinOperatorMAX_POOL_2D && len(op.Inputs) > 0 && op.Inputs[0] == i {
			return true
		}
	}
	return false
}

// padByConcat pads x (of shape, in ONNX's axis order) with zeros, pads in
// ONNX's [begins..., ends...] order, by concatenating zero blocks axis by
// axis.
func (c *converter) padByConcat(x, out string, shape []int, pads []int64) {
	rank := len(shape)
	cur := x
	shape = append([]int(nil), shape...)
	var last int
	for a := range rank {
		if pads[a] != 0 || pads[rank+a] != 0 {
			last = a
		}
	}
	for a := range rank {
		before, after := int(pads[a]), int(pads[rank+a])
		if before == 0 && after == 0 {
			continue
		}
		ins := []string{}
		zeros := func(n int) string {
			zs := append([]int(nil), shape...)
			zs[a] = n
			name := c.unique(out + "_zeros")
			c.g.Initializer = append(c.g.Initializer, graph.FloatTensor(name, dims64(zs), make([]float32, elements(zs))))
			return name
		}
		if before > 0 {
			ins = append(ins, zeros(before))
		}
		ins = append(ins, cur)
		if after > 0 {
			ins = append(ins, zeros(after))
		}
		next := out
		if a != last {
			next = c.unique(out + "_padded")
		}
		c.node("Concat", ins, []string{next}, graph.IntAttr("axis", int64(a)))
		shape[a] += before + after
		cur = next
	}
	if cur == x { // no padding at all
		c.node("Identity", []string{x}, []string{out})
	}
}

// fullyConnected flattens the input (in TFLite's layout) to [-1, K] and
// multiplies by the constant weights [O, K]: Gemm with transB, then a
// Reshape to the output tensor's shape when it is not [M, O].
func (c *converter) fullyConnected(op Operator) error {
	if err := c.want(op, 2, 1); err != nil {
		return err
	}
	if op.Options.shuffledWeights {
		return fmt.Errorf("shuffled int8 weights are not supported")
	}
	x, w, o := op.Inputs[0], op.Inputs[1], op.Outputs[0]
	k, ok := c.consts[w]
	if !ok || len(k.Shape) != 2 || k.Int {
		return fmt.Errorf("weights %q are not a constant float [O,K] tensor", c.m.Tensors[w].Name)
	}
	xn, err := c.input(x, false)
	if err != nil {
		return err
	}
	flat := c.unique(c.m.Tensors[o].Name + "_flat")
	sn := c.unique(flat + "_shape")
	c.g.Initializer = append(c.g.Initializer, graph.Int64Tensor(sn, []int64{2}, []int64{-1, int64(k.Shape[1])}))
	c.node("Reshape", []string{xn, sn}, []string{flat})
	wn, err := c.input(w, false)
	if err != nil {
		return err
	}
	ins := []string{flat, wn}
	if len(op.Inputs) > 2 && op.Inputs[2] >= 0 {
		if _, ok := c.consts[op.Inputs[2]]; !ok {
			return fmt.Errorf("bias %q is not a constant", c.m.Tensors[op.Inputs[2]].Name)
		}
		bn, err := c.input(op.Inputs[2], false)
		if err != nil {
			return err
		}
		ins = append(ins, bn)
	}
	shape := c.m.Tensors[o].Shape
	return c.activation(op.Options.Activation, o, false, func(dst string) {
		if len(shape) == 2 {
			c.node("Gemm", ins, []string{dst}, graph.IntAttr("transB", 1))
			return
		}
		mm := c.unique(dst + "_gemm")
		c.node("Gemm", ins, []string{mm}, graph.IntAttr("transB", 1))
		on := c.unique(dst + "_shape")
		c.g.Initializer = append(c.g.Initializer, graph.Int64Tensor(on, []int64{int64(len(shape))}, dims64(shape)))
		c.node("Reshape", []string{mm, on}, []string{dst})
	})
}

// mean is ReduceMean over constant axes. A rank-4 input held NCHW stays so
// when the kept axes keep their order (keep_dims, or only H and W
// reduced); otherwise it goes back to TFLite's layout first.
func (c *converter) mean(op Operator) error {
	if err := c.want(op, 2, 1); err != nil {
		return err
	}
	x, a := op.Inputs[0], op.Inputs[1]
	k, ok := c.consts[a]
	if !ok || !k.Int {
		return fmt.Errorf("axes %q are not a constant integer tensor", c.m.Tensors[a].Name)
	}
	rank := len(c.m.Tensors[x].Shape)
	axes := make([]int, len(k.I))
	reduced := map[int]bool{}
	for i, v := range k.I {
		ax := int(v)
		if ax < 0 {
			ax += rank
		}
		if ax < 0 || ax >= rank {
			return fmt.Errorf("axis %d for rank %d", v, rank)
		}
		axes[i] = ax
		reduced[ax] = true
	}
	nchw := c.isNCHW(x) && rank == 4
	if nchw && !op.Options.KeepDims && !reduced[1] && !reduced[2] {
		nchw = false // C would come out before H or W
	}
	if nchw && !op.Options.KeepDims && !reduced[3] && (!reduced[1] || !reduced[2]) {
		nchw = false
	}
	onnxAxes := make([]int64, len(axes))
	for i, ax := range axes {
		onnxAxes[i] = int64(ax)
		if nchw {
			onnxAxes[i] = int64([]int{0, 2, 3, 1}[ax])
		}
	}
	xn, err := c.input(x, nchw)
	if err != nil {
		return err
	}
	keep := int64(0)
	if op.Options.KeepDims {
		keep = 1
	}
	c.node("ReduceMean", []string{xn}, []string{c.define(op.Outputs[0], nchw && op.Options.KeepDims)},
		graph.IntsAttr("axes", onnxAxes...), graph.IntAttr("keepdims", keep))
	return nil
}
