package tflite

import (
	"fmt"
	"slices"
	"strings"

	"github.com/edgeflow/edgeflow/models/graph"
	"github.com/edgeflow/edgeflow/models/onnxpb"
	"github.com/edgeflow/edgeflow/models/tflite/schema"
	"google.golang.org/protobuf/proto"
)

// Opset is the ai.onnx opset of converted models.
const Opset = 13

// UnsupportedError lists the operators of a model that the converter does
// not translate, by name with their count. Convert returns it (before
// writing anything) rather than a model that computes something else.
type UnsupportedError struct {
	Ops map[string]int
}

func (e *UnsupportedError) Error() string {
	names := make([]string, 0, len(e.Ops))
	for n := range e.Ops {
		names = append(names, n)
	}
	slices.Sort(names)
	parts := make([]string, len(names))
	for i, n := range names {
		parts[i] = fmt.Sprintf("%s ×%d", n, e.Ops[n])
	}
	return "unsupported TFLite operators: " + strings.Join(parts, ", ")
}

// Supported lists the TFLite operators Convert translates.
func Supported() []string {
	out := make([]string, 0, len(translators)+2)
	for code := range translators {
		out = append(out, code.String())
	}
	out = append(out, schema.BuiltinOperatorDEQUANTIZE.String()+" (of constants)", schema.BuiltinOperatorDENSIFY.String()+" (of constants)")
	slices.Sort(out)
	return out
}

// converter holds the state of one conversion.
type converter struct {
	m      *Model
	g      *onnxpb.GraphProto
	consts map[int]*constant
	vals   map[int]value
	cache  map[cacheKey]string
	used   map[string]bool
	isOut  map[int]bool
	outFix [][2]string    // NCHW value -> graph output name, transposed at the end
	outs   map[int]string // graph output tensor -> its name in the ONNX graph
}

// value is an ONNX value computed by the graph. Rank-4 tensors are kept
// NCHW (nchw) when they feed convolutions, as TFLite's NHWC otherwise.
type value struct {
	name string
	nchw bool
}

type cacheKey struct {
	tensor int
	nchw   bool
}

var (
	toNCHW = []int{0, 3, 1, 2}
	toNHWC = []int{0, 2, 3, 1}
)

// Convert translates the model's main subgraph to an ONNX model. Inputs and
// outputs keep TFLite's names, shapes and NHWC layout; inside, rank-4
// activations are transposed to NCHW once and stay so for ONNX's Conv and
// pooling operators. Constant weights are folded: fp16 and int8
// (per-tensor or per-channel) DEQUANTIZE and DENSIFY of sparse weights are
// applied at conversion time, so the ONNX model carries float32 weights.
func Convert(m *Model) (*onnxpb.ModelProto, error) {
	c := &converter{m: m, g: &onnxpb.GraphProto{Name: proto.String("tflite")}, consts: map[int]*constant{},
		vals: map[int]value{}, cache: map[cacheKey]string{}, used: map[string]bool{}, isOut: map[int]bool{}, outs: map[int]string{}}
	if err := c.fold(); err != nil {
		return nil, err
	}
	if err := c.check(); err != nil {
		return nil, err
	}
	for _, i := range m.Outputs {
		c.isOut[i] = true
	}
	for _, i := range m.Inputs {
		t := &m.Tensors[i]
		name := c.unique(t.Name)
		c.vals[i] = value{name: name}
		c.g.Input = append(c.g.Input, graph.FloatValueInfo(name, dims64(t.Shape)...))
	}
	for k, op := range m.Operators {
		if c.folded(op) {
			continue
		}
		if err := translators[op.Code](c, op); err != nil {
			return nil, fmt.Errorf("operator %d (%s): %w", k, op.Name(), err)
		}
	}
	for _, f := range c.outFix {
		c.node("Transpose", []string{f[0]}, []string{f[1]}, graph.IntsAttr("perm", ints64(toNHWC)...))
	}
	for _, i := range m.Outputs {
		t := &m.Tensors[i]
		name, ok := c.outs[i]
		if !ok {
			return nil, fmt.Errorf("output %q is not computed by any operator", t.Name)
		}
		c.g.Output = append(c.g.Output, graph.FloatValueInfo(name, dims64(t.Shape)...))
	}
	model := &onnxpb.ModelProto{ProducerName: proto.String("edgeflow model convert"), Graph: c.g}
	if m.Description != "" {
		model.DocString = proto.String("converted from TFLite: " + m.Description)
	}
	graph.SetOpset(model, "", Opset)
	if err := graph.TopoSort(c.g); err != nil {
		return nil, err
	}
	return model, nil
}

// fold computes the constants: tensors with data, and the outputs of
// DEQUANTIZE and DENSIFY applied to constants.
func (c *converter) fold() error {
	constOf := func(i int) (*constant, error) {
		if k, ok := c.consts[i]; ok {
			return k, nil
		}
		t := &c.m.Tensors[i]
		if t.Data == nil {
			return nil, nil
		}
		if t.Sparsity != nil {
			// Read through DENSIFY below; never used directly.
			return values(t)
		}
		k, err := values(t)
		if err != nil {
			return nil, err
		}
		c.consts[i] = k
		return k, nil
	}
	for i := range c.m.Tensors {
		if c.m.Tensors[i].Sparsity == nil && c.m.Tensors[i].Data != nil {
			if _, err := constOf(i); err != nil {
				return err
			}
		}
	}
	for k, op := range c.m.Operators {
		if (op.Code != schema.BuiltinOperatorDEQUANTIZE && op.Code != schema.BuiltinOperatorDENSIFY) || len(op.Inputs) != 1 || len(op.Outputs) != 1 {
			continue
		}
		in := op.Inputs[0]
		src, err := constOf(in)
		if err != nil {
			return fmt.Errorf("operator %d (%s): %w", k, op.Name(), err)
		}
		if src == nil {
			continue // an activation: check() reports it
		}
		var out *constant
		if op.Code == schema.BuiltinOperatorDENSIFY {
			if c.m.Tensors[in].Sparsity == nil {
				out = src
			} else if out, err = densify(&c.m.Tensors[in], src); err != nil {
				return fmt.Errorf("operator %d (DENSIFY): %w", k, err)
			}
			// The densified tensor keeps the sparse tensor's
			// quantisation for a DEQUANTIZE that follows.
			if c.m.Tensors[op.Outputs[0]].Quant == nil {
				c.m.Tensors[op.Outputs[0]].Quant = c.m.Tensors[in].Quant
			}
		} else {
			t := c.m.Tensors[in]
			if t.Sparsity != nil {
				return fmt.Errorf("operator %d (DEQUANTIZE): input %q is sparse; DENSIFY it first", k, t.Name)
			}
			if out, err = dequantize(&t, src); err != nil {
				return fmt.Errorf("operator %d (DEQUANTIZE): %w", k, err)
			}
		}
		c.consts[op.Outputs[0]] = out
	}
	return nil
}

// folded reports whether the operator was computed by fold.
func (c *converter) folded(op Operator) bool {
	if (op.Code != schema.BuiltinOperatorDEQUANTIZE && op.Code != schema.BuiltinOperatorDENSIFY) || len(op.Outputs) != 1 {
		return false
	}
	_, ok := c.consts[op.Outputs[0]]
	return ok
}

// check fails with every unsupported operator, by name and count, and
// refuses models whose activations are not float32.
func (c *converter) check() error {
	bad := map[string]int{}
	for _, op := range c.m.Operators {
		if c.folded(op) {
			continue
		}
		if _, ok := translators[op.Code]; !ok || op.Options.unknownOptionsType {
			name := op.Name()
			switch op.Code {
			case schema.BuiltinOperatorDEQUANTIZE, schema.BuiltinOperatorDENSIFY:
				name += " (of an activation)"
			}
			bad[name]++
		}
	}
	if len(bad) > 0 {
		return &UnsupportedError{Ops: bad}
	}
	for _, idx := range [][]int{c.m.Inputs, c.m.Outputs} {
		for _, i := range idx {
			if t := c.m.Tensors[i]; t.Type != schema.TensorTypeFLOAT32 {
				return fmt.Errorf("graph input/output %q is %s: fully quantised models (integer activations) are not supported, only float models with fp16, int8 or sparse weights", t.Name, t.Type)
			}
		}
	}
	return nil
}

// unique returns a graph-unique ONNX name based on base.
func (c *converter) unique(base string) string {
	if base == "" {
		base = "t"
	}
	name := base
	for n := 1; c.used[name]; n++ {
		name = fmt.Sprintf("%s_%d", base, n)
	}
	c.used[name] = true
	return name
}

func (c *converter) node(op string, in, out []string, attrs ...*onnxpb.AttributeProto) {
	n := graph.Node(op, c.unique(op+"_"+out[0]), in, out, attrs...)
	c.g.Node = append(c.g.Node, n)
}

// rank4 reports whether tensor i is a rank-4 tensor (NHWC in TFLite).
func (c *converter) rank4(i int) bool { return len(c.m.Tensors[i].Shape) == 4 }

// isNCHW reports whether tensor i is an activation currently held NCHW.
func (c *converter) isNCHW(i int) bool {
	v, ok := c.vals[i]
	return ok && v.nchw
}

// input returns the ONNX name of tensor i in the wanted layout (which only
// matters for rank-4 tensors): a constant becomes an initializer (permuted
// to NCHW when asked), an activation gets a Transpose when its layout
// differs. Both are made once per layout.
func (c *converter) input(i int, nchw bool) (string, error) {
	if i < 0 {
		return "", nil
	}
	nchw = nchw && c.rank4(i)
	key := cacheKey{i, nchw}
	if name, ok := c.cache[key]; ok {
		return name, nil
	}
	t := &c.m.Tensors[i]
	if k, ok := c.consts[i]; ok {
		if nchw {
			k = k.permute(toNCHW)
		}
		name := c.unique(t.Name)
		c.g.Initializer = append(c.g.Initializer, initializer(name, k))
		c.cache[key] = name
		return name, nil
	}
	v, ok := c.vals[i]
	if !ok {
		return "", fmt.Errorf("tensor %q is used before it is computed", t.Name)
	}
	if v.nchw == nchw || !c.rank4(i) {
		return v.name, nil
	}
	perm, suffix := toNCHW, "_nchw"
	if !nchw {
		perm, suffix = toNHWC, "_nhwc"
	}
	name := c.unique(strings.TrimSuffix(v.name, "_nchw") + suffix)
	c.node("Transpose", []string{v.name}, []string{name}, graph.IntsAttr("perm", ints64(perm)...))
	c.cache[key] = name
	return name, nil
}

// constInput returns tensor i's constant, reshaped for broadcasting against
// a rank-4 tensor held NCHW when nchw is set: TFLite broadcasts NHWC
// trailing dimensions, so [C] or [1,1,C] become [1,C,1,1].
func (c *converter) constInput(i int, nchw bool) (string, error) {
	k := c.consts[i]
	if !nchw || len(k.Shape) == 4 {
		return c.input(i, nchw)
	}
	if elements(k.Shape) == 1 || len(k.Shape) == 0 {
		return c.input(i, false)
	}
	if len(k.Shape) > 4 {
		return "", fmt.Errorf("constant %q of rank %d against a rank-4 tensor", c.m.Tensors[i].Name, len(k.Shape))
	}
	shape := append(slices.Repeat([]int{1}, 4-len(k.Shape)), k.Shape...)
	padded := &constant{Shape: shape, F: k.F, I: k.I, Int: k.Int}
	name := c.unique(c.m.Tensors[i].Name + "_nchw")
	c.g.Initializer = append(c.g.Initializer, initializer(name, padded.permute(toNCHW)))
	return name, nil
}

// define names the ONNX value that computes tensor i in the given layout.
// A graph output computed NCHW is transposed back to NHWC at the end, under
// its own name.
func (c *converter) define(i int, nchw bool) string {
	t := &c.m.Tensors[i]
	nchw = nchw && c.rank4(i)
	var name string
	if c.isOut[i] && nchw {
		out := c.unique(t.Name)
		name = c.unique(out + "_nchw")
		c.outFix = append(c.outFix, [2]string{name, out})
		c.outs[i] = out
	} else {
		name = c.unique(t.Name)
		if c.isOut[i] {
			c.outs[i] = name
		}
	}
	c.vals[i] = value{name: name, nchw: nchw}
	return name
}

// activation applies a fused activation: the main node writes to a
// temporary that the activation node reads.
func (c *converter) activation(act schema.ActivationFunctionType, out int, nchw bool, emit func(dst string)) error {
	if act == schema.ActivationFunctionTypeNONE {
		emit(c.define(out, nchw))
		return nil
	}
	tmp := c.unique(c.m.Tensors[out].Name + "_preact")
	emit(tmp)
	dst := c.define(out, nchw)
	switch act {
	case schema.ActivationFunctionTypeRELU:
		c.node("Relu", []string{tmp}, []string{dst})
	case schema.ActivationFunctionTypeRELU6:
		c.clip(tmp, dst, 0, 6)
	case schema.ActivationFunctionTypeRELU_N1_TO_1:
		c.clip(tmp, dst, -1, 1)
	case schema.ActivationFunctionTypeTANH:
		c.node("Tanh", []string{tmp}, []string{dst})
	default:
		return fmt.Errorf("fused activation %s is not supported", act)
	}
	return nil
}

func (c *converter) clip(in, out string, lo, hi float32) {
	mn, mx := c.unique(out+"_min"), c.unique(out+"_max")
	c.g.Initializer = append(c.g.Initializer, graph.FloatTensor(mn, nil, []float32{lo}), graph.FloatTensor(mx, nil, []float32{hi}))
	c.node("Clip", []string{in, mn, mx}, []string{out})
}

// initializer makes an ONNX tensor of a constant (float32 or int64).
func initializer(name string, k *constant) *onnxpb.TensorProto {
	if k.Int {
		return graph.Int64Tensor(name, dims64(k.Shape), k.I)
	}
	return graph.FloatTensor(name, dims64(k.Shape), k.F)
}

func dims64(d []int) []int64 {
	out := make([]int64, len(d))
	for i, v := range d {
		out[i] = int64(v)
	}
	return out
}

func ints64(d []int) []int64 { return dims64(d) }

// samePads returns TFLite's SAME padding of one spatial dimension: the
// output is ceil(in/stride), the padding that needs split with the odd
// pixel at the end (ONNX's SAME_UPPER), written out as explicit pads.
func samePads(in, kernel, stride, dilation int) (before, after int) {
	eff := (kernel-1)*dilation + 1
	out := (in + stride - 1) / stride
	total := max((out-1)*stride+eff-in, 0)
	return total / 2, total - total/2
}
