package quantize

import (
	"fmt"

	"github.com/edgeflow/edgeflow/models/graph"
	"github.com/edgeflow/edgeflow/models/onnxpb"
)

// unchanged lists operators whose meaning in inference is the same from
// opset 9 to 13 (later versions only add types or attributes with
// backward-compatible defaults); the minimum version is the oldest opset
// from which that holds.
var unchanged = map[string]int64{
	"Conv": 1, "ConvTranspose": 1, "Relu": 1, "LeakyRelu": 1, "PRelu": 9, "Sigmoid": 1, "Tanh": 1,
	"HardSigmoid": 1, "Elu": 1, "Selu": 1, "Softplus": 1, "Exp": 1, "Log": 1, "Sqrt": 1, "Pow": 7,
	"Neg": 1, "Abs": 1, "Floor": 1, "Ceil": 1, "Reciprocal": 1, "Erf": 9,
	"Add": 7, "Sub": 7, "Mul": 7, "Div": 7, "Sum": 8, "Max": 8, "Min": 8, "Mean": 8,
	"MatMul": 9, "Gemm": 9, "Concat": 4, "Reshape": 5, "Transpose": 1, "Flatten": 9, "Identity": 1,
	"MaxPool": 8, "AveragePool": 7, "GlobalAveragePool": 1, "GlobalMaxPool": 1,
	"BatchNormalization": 9, "InstanceNormalization": 6, "Gather": 1, "Shape": 1, "Size": 1,
	"Cast": 9, "Constant": 9, "ConstantOfShape": 9, "Expand": 8, "Tile": 6, "Where": 9,
	"Equal": 7, "Greater": 9, "Less": 9, "Not": 1, "And": 7, "Or": 7,
	"Slice": 10, "Resize": 11, "Clip": 11, "Pad": 11, "TopK": 11, "Range": 11,
	"ReduceMean": 1, "ReduceMax": 1, "ReduceMin": 1, "ReduceProd": 1, "ArgMax": 1, "ArgMin": 1,
	"NonMaxSuppression": 10, "DepthToSpace": 11, "SpaceToDepth": 1, "Einsum": 12,
}

// Upgrade raises m's default-domain opset to target (13 is the only target
// it knows), rewriting the nodes whose meaning changed on the way: Split,
// Squeeze, Unsqueeze and ReduceSum take their axes/split as inputs; Softmax,
// LogSoftmax and Hardmax no longer flatten (so the old behaviour becomes
// Flatten -> op -> Reshape); Slice-1, Clip-6 and Pad-2 move attributes to
// inputs; Dropout becomes Identity. A node it does not know how to carry
// over is an error and m is left as it was. It returns the names of the
// nodes it rewrote.
func Upgrade(m *onnxpb.ModelProto, target int64) ([]string, error) {
	from := graph.Opset(m, "")
	if target != 13 {
		return nil, fmt.Errorf("opset upgrade only targets 13, not %d", target)
	}
	if from >= target {
		return nil, nil
	}
	if from < 9 {
		return nil, fmt.Errorf("opset %d is too old to upgrade (9 or later needed)", from)
	}
	g := graph.Clone(m).GetGraph() // work on a copy; commit only on success
	ix := graph.NewIndex(g)
	var rewritten []string
	var nodes []*onnxpb.NodeProto
	for _, n := range g.GetNode() {
		if d := n.GetDomain(); d != "" && d != "ai.onnx" {
			nodes = append(nodes, n)
			continue
		}
		op := n.GetOpType()
		if subgraphs(n) {
			return nil, fmt.Errorf("node %q (%s) has subgraphs, which the opset upgrade does not rewrite", n.GetName(), op)
		}
		var extra []*onnxpb.NodeProto
		changed := true
		switch op {
		case "Softmax", "LogSoftmax", "Hardmax", "Dropout":
			// The rewrites below read the first input and output.
			if len(n.GetInput()) == 0 || n.GetInput()[0] == "" || len(n.GetOutput()) == 0 {
				return nil, fmt.Errorf("node %q (%s) has no input or no output", n.GetName(), op)
			}
		}
		switch op {
		case "Split":
			if s := graph.AttrInts(n, "split"); s != nil {
				n.Input = append(n.Input, constInts(ix, n.GetName()+"_split", s))
				graph.RemoveAttr(n, "split")
			} else {
				changed = false
			}
		case "Squeeze", "Unsqueeze", "ReduceSum":
			if axes := graph.Attr(n, "axes"); axes != nil {
				n.Input = append(n.Input, constInts(ix, n.GetName()+"_axes", axes.GetInts()))
				graph.RemoveAttr(n, "axes")
			} else {
				changed = false
			}
		case "Softmax", "LogSoftmax", "Hardmax":
			extra = flattenSoftmax(ix, n)
		case "Slice":
			if from < 10 {
				starts, ends, axes := graph.AttrInts(n, "starts"), graph.AttrInts(n, "ends"), graph.AttrInts(n, "axes")
				n.Input = append(n.Input, constInts(ix, n.GetName()+"_starts", starts), constInts(ix, n.GetName()+"_ends", ends))
				if axes != nil {
					n.Input = append(n.Input, constInts(ix, n.GetName()+"_axes", axes))
				}
				n.Attribute = nil
			} else {
				changed = false
			}
		case "Clip":
			if from < 11 {
				lo, hi := graph.AttrFloat(n, "min", -3.4028235e38), graph.AttrFloat(n, "max", 3.4028235e38)
				n.Input = append(n.Input, constFloat(ix, n.GetName()+"_min", lo), constFloat(ix, n.GetName()+"_max", hi))
				n.Attribute = nil
			} else {
				changed = false
			}
		case "Pad":
			if from < 11 {
				mode := graph.AttrString(n, "mode", "constant")
				n.Input = append(n.Input, constInts(ix, n.GetName()+"_pads", graph.AttrInts(n, "pads")),
					constFloat(ix, n.GetName()+"_value", graph.AttrFloat(n, "value", 0)))
				n.Attribute = []*onnxpb.AttributeProto{graph.StringAttr("mode", mode)}
			} else {
				changed = false
			}
		case "Resize":
			// Opset 13 treats an empty scales tensor next to sizes as
			// "both given"; an empty (absent) input says what 11 meant.
			changed = false
			for _, i := range []int{1, 2} {
				if i < len(n.Input) && n.Input[i] != "" {
					if t := ix.Initializer(n.Input[i]); t != nil && graph.Elements(t.GetDims()) == 0 {
						n.Input[i], changed = "", true
					}
				}
			}
			if from < 11 {
				return nil, fmt.Errorf("resize node %q of opset %d: its coordinate mode changed in opset 11", n.GetName(), from)
			}
		case "Dropout":
			if len(n.GetOutput()) > 1 && n.GetOutput()[1] != "" {
				return nil, fmt.Errorf("dropout node %q uses its mask output", n.GetName())
			}
			n.OpType, n.Attribute, n.Input, n.Output = ptr("Identity"), nil, n.Input[:1], n.Output[:1]
		default:
			minV, ok := unchanged[op]
			if !ok || from < minV {
				return nil, fmt.Errorf("the opset %d -> 13 upgrade does not know how to carry over %s (node %q)", from, op, n.GetName())
			}
			changed = false
		}
		nodes = append(nodes, n)
		nodes = append(nodes, extra...)
		if changed {
			rewritten = append(rewritten, fmt.Sprintf("%s %q", op, n.GetName()))
		}
	}
	g.Node = nodes
	if err := graph.TopoSort(g); err != nil {
		return nil, err
	}
	m.Graph = g
	graph.SetOpset(m, "", target)
	return rewritten, nil
}

// flattenSoftmax keeps the pre-13 meaning of Softmax(axis=a) (softmax over
// all dimensions from a on, flattened) as Flatten(a) -> Softmax(-1) ->
// Reshape(Shape(x)). It edits n in place and returns the nodes to add after
// it.
func flattenSoftmax(ix *graph.Index, n *onnxpb.NodeProto) []*onnxpb.NodeProto {
	axis := graph.AttrInt(n, "axis", 1)
	x, y := n.GetInput()[0], n.GetOutput()[0]
	flat, soft, shape := ix.NewName(x+"_flat"), ix.NewName(y+"_flat"), ix.NewName(x+"_shape")
	name := n.GetName()
	flatten := graph.Node("Flatten", ix.NewName(name+"_flatten"), []string{x}, []string{flat}, graph.IntAttr("axis", axis))
	shapeOf := graph.Node("Shape", ix.NewName(name+"_shape"), []string{x}, []string{shape})
	reshape := graph.Node("Reshape", ix.NewName(name+"_reshape"), []string{soft, shape}, []string{y})
	n.Input = []string{flat}
	n.Output = []string{soft}
	graph.SetAttr(n, graph.IntAttr("axis", -1))
	return []*onnxpb.NodeProto{flatten, shapeOf, reshape}
}

func constInts(ix *graph.Index, base string, v []int64) string {
	name := ix.NewName(base)
	ix.AddInitializer(graph.Int64Tensor(name, []int64{int64(len(v))}, v))
	return name
}

func constFloat(ix *graph.Index, base string, v float32) string {
	name := ix.NewName(base)
	ix.AddInitializer(graph.FloatTensor(name, nil, []float32{v}))
	return name
}

func subgraphs(n *onnxpb.NodeProto) bool {
	for _, a := range n.GetAttribute() {
		if a.GetG() != nil || len(a.GetGraphs()) > 0 {
			return true
		}
	}
	return false
}

func ptr[T any](v T) *T { return &v }
