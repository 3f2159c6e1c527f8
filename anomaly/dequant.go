package anomaly

import (
	"errors"
	"fmt"

	"github.com/edgeflow/edgeflow/models/graph"
	"github.com/edgeflow/edgeflow/models/onnxpb"
	"google.golang.org/protobuf/proto"
)

// ReadModel reads an autoencoder's weights from a float32 model (as
// ReadONNX) or from its statically quantised version (QDQ, as ExportPair
// writes it): there the weights and biases are dequantised (int8 or int32
// times their scales) and the activations' Quantize/Dequantize pairs are
// read through. On-device learning starts from the weights the device
// runs, whichever of the two it was given.
func ReadModel(data []byte) (*Autoencoder, error) {
	var m onnxpb.ModelProto
	if err := proto.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("read model: %w", err)
	}
	g := m.GetGraph()
	quantised := false
	for _, n := range g.GetNode() {
		quantised = quantised || n.GetOpType() == "DequantizeLinear"
	}
	if !quantised {
		return ReadONNX(data)
	}
	if len(g.GetInput()) != 1 {
		return nil, errors.New("read model: want a graph with one input")
	}
	inits := map[string]*onnxpb.TensorProto{}
	for _, t := range g.GetInitializer() {
		inits[t.GetName()] = t
	}
	alias := map[string]string{} // a Q/DQ output -> the float tensor it carries
	resolve := func(name string) string {
		for {
			a, ok := alias[name]
			if !ok {
				return name
			}
			name = a
		}
	}
	var chain []*onnxpb.NodeProto
	for _, n := range g.GetNode() {
		in, out := n.GetInput(), n.GetOutput()
		if len(in) == 0 || len(out) != 1 {
			return nil, fmt.Errorf("read model: node %q has %d inputs and %d outputs", n.GetName(), len(in), len(out))
		}
		switch n.GetOpType() {
		case "DequantizeLinear":
			if q := inits[in[0]]; q != nil {
				w, err := dequantize(n, q, inits)
				if err != nil {
					return nil, err
				}
				inits[out[0]] = w
				continue
			}
			alias[out[0]] = in[0]
		case "QuantizeLinear":
			alias[out[0]] = in[0]
		case "Gemm", "Relu":
			c := proto.Clone(n).(*onnxpb.NodeProto)
			for i := range c.Input {
				c.Input[i] = resolve(c.Input[i])
			}
			chain = append(chain, c)
		default:
			return nil, fmt.Errorf("read model: operator %s is not part of an autoencoder", n.GetOpType())
		}
	}
	f := &onnxpb.ModelProto{IrVersion: m.IrVersion, OpsetImport: m.OpsetImport, Graph: &onnxpb.GraphProto{
		Input: g.GetInput(), Output: g.GetOutput(), Node: chain}}
	for _, t := range inits {
		if graph.DataType(t) == onnxpb.TensorProto_FLOAT {
			f.Graph.Initializer = append(f.Graph.Initializer, t)
		}
	}
	b, err := proto.Marshal(f)
	if err != nil {
		return nil, fmt.Errorf("read model: %w", err)
	}
	return ReadONNX(b)
}

// dequantize turns an integer initializer behind a DequantizeLinear into
// the float tensor it stands for: (q - zero point) * scale, per axis when
// the scale is a vector.
func dequantize(n *onnxpb.NodeProto, q *onnxpb.TensorProto, inits map[string]*onnxpb.TensorProto) (*onnxpb.TensorProto, error) {
	in := n.GetInput()
	if len(in) < 2 || inits[in[1]] == nil {
		return nil, fmt.Errorf("read model: DequantizeLinear %q has no constant scale", n.GetName())
	}
	vals, err := integers(q)
	if err != nil {
		return nil, fmt.Errorf("read model: DequantizeLinear %q: %w", n.GetName(), err)
	}
	scale, err := graph.Floats(inits[in[1]])
	if err != nil || len(scale) == 0 {
		return nil, fmt.Errorf("read model: DequantizeLinear %q scale: %v", n.GetName(), err)
	}
	zero := make([]int64, len(scale))
	if len(in) > 2 && inits[in[2]] != nil {
		if zero, err = integers(inits[in[2]]); err != nil || len(zero) != len(scale) {
			return nil, fmt.Errorf("read model: DequantizeLinear %q zero point: %v", n.GetName(), err)
		}
	}
	dims := q.GetDims()
	axis := int(graph.AttrInt(n, "axis", 1))
	if axis < 0 {
		axis += len(dims)
	}
	// stride of the axis: elements per step along it
	inner := 1
	if len(scale) > 1 {
		if axis < 0 || axis >= len(dims) || int(dims[axis]) != len(scale) {
			return nil, fmt.Errorf("read model: DequantizeLinear %q: %d scales for axis %d of %v", n.GetName(), len(scale), axis, dims)
		}
		for _, d := range dims[axis+1:] {
			inner *= int(d)
		}
	}
	out := make([]float32, len(vals))
	for i, v := range vals {
		c := 0
		if len(scale) > 1 {
			c = (i / inner) % len(scale)
		}
		out[i] = float32(v-zero[c]) * scale[c]
	}
	return graph.FloatTensor(n.GetOutput()[0], dims, out), nil
}

// integers reads an int8, uint8 or int32 tensor.
func integers(t *onnxpb.TensorProto) ([]int64, error) {
	switch graph.DataType(t) {
	case onnxpb.TensorProto_INT8, onnxpb.TensorProto_UINT8:
		raw := t.GetRawData()
		if raw == nil {
			out := make([]int64, len(t.GetInt32Data()))
			for i, v := range t.GetInt32Data() {
				out[i] = int64(v)
			}
			return out, nil
		}
		out := make([]int64, len(raw))
		for i, b := range raw {
			if graph.DataType(t) == onnxpb.TensorProto_INT8 {
				out[i] = int64(int8(b))
			} else {
				out[i] = int64(b)
			}
		}
		return out, nil
	case onnxpb.TensorProto_INT32:
		return graph.Int64s(t)
	}
	return nil, fmt.Errorf("tensor %q has element type %s, not an integer", t.GetName(), graph.DataType(t))
}
