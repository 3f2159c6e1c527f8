package anomaly

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strconv"

	"github.com/edgeflow/edgeflow/models/graph"
	"github.com/edgeflow/edgeflow/models/onnxpb"
	"google.golang.org/protobuf/proto"
)

// Names of the exported model's input and output, and of the metadata keys
// it carries.
const (
	InputName  = "window"
	OutputName = "reconstruction"
	// MetaKind marks a model written by this package; MetaWindow holds its
	// window length.
	MetaKind   = "edgeflow.kind"
	MetaWindow = "edgeflow.window"
	kindValue  = "anomaly-autoencoder"
)

// ONNX opset and IR versions of the export: Gemm and Relu have been stable
// since opset 13, and IR 8 is read by every ONNX Runtime since 1.10.
const (
	opsetVersion = 13
	irVersion    = 8
)

// ONNX returns the autoencoder as an ONNX model: input "window" [N, W],
// output "reconstruction" [N, W], N dynamic, one Gemm (transB=1) per layer
// followed by Relu where the layer has one. meta is added to the model's
// metadata (training provenance, say).
func (a *Autoencoder) ONNX(meta map[string]string) (*onnxpb.ModelProto, error) {
	if err := a.Validate(); err != nil {
		return nil, err
	}
	io := func(name string) *onnxpb.ValueInfoProto { return graph.FloatValueInfo(name, -1, int64(a.Window)) }
	g := &onnxpb.GraphProto{
		Name:   proto.String("anomaly_autoencoder"),
		Input:  []*onnxpb.ValueInfoProto{io(InputName)},
		Output: []*onnxpb.ValueInfoProto{io(OutputName)},
	}
	cur := InputName
	for i, l := range a.Layers {
		w, b := fmt.Sprintf("w%d", i), fmt.Sprintf("b%d", i)
		g.Initializer = append(g.Initializer, tensor(w, l.W, int64(l.Out), int64(l.In)), tensor(b, l.B, int64(l.Out)))
		out := fmt.Sprintf("gemm%d", i)
		last := i == len(a.Layers)-1
		if last && !l.Relu {
			out = OutputName
		}
		g.Node = append(g.Node, &onnxpb.NodeProto{
			Name: proto.String(out), OpType: proto.String("Gemm"),
			Input: []string{cur, w, b}, Output: []string{out},
			Attribute: []*onnxpb.AttributeProto{{Name: proto.String("transB"),
				Type: onnxpb.AttributeProto_INT.Enum(), I: proto.Int64(1)}},
		})
		cur = out
		if l.Relu {
			out = fmt.Sprintf("relu%d", i)
			if last {
				out = OutputName
			}
			g.Node = append(g.Node, &onnxpb.NodeProto{Name: proto.String(out), OpType: proto.String("Relu"),
				Input: []string{cur}, Output: []string{out}})
			cur = out
		}
	}
	props := []*onnxpb.StringStringEntryProto{
		{Key: proto.String(MetaKind), Value: proto.String(kindValue)},
		{Key: proto.String(MetaWindow), Value: proto.String(strconv.Itoa(a.Window))},
	}
	for k, v := range meta {
		if k != MetaKind && k != MetaWindow {
			props = append(props, &onnxpb.StringStringEntryProto{Key: proto.String(k), Value: proto.String(v)})
		}
	}
	return &onnxpb.ModelProto{
		IrVersion:     proto.Int64(irVersion),
		ProducerName:  proto.String("edgeflow"),
		OpsetImport:   []*onnxpb.OperatorSetIdProto{{Domain: proto.String(""), Version: proto.Int64(opsetVersion)}},
		Graph:         g,
		MetadataProps: props,
	}, nil
}

// MarshalONNX serialises the model (see ONNX).
func (a *Autoencoder) MarshalONNX(meta map[string]string) ([]byte, error) {
	m, err := a.ONNX(meta)
	if err != nil {
		return nil, err
	}
	return proto.Marshal(m)
}

func tensor(name string, data []float32, dims ...int64) *onnxpb.TensorProto {
	return &onnxpb.TensorProto{Name: proto.String(name), Dims: dims,
		DataType: proto.Int32(int32(onnxpb.TensorProto_FLOAT)), FloatData: data}
}

// ReadONNX reads back a float32 autoencoder written by MarshalONNX (or any
// chain of Gemm(transB=1) and Relu nodes), so that Go can run it without
// ONNX Runtime. A quantised model is not a chain of float Gemms and is
// refused: run it with ONNX Runtime.
func ReadONNX(data []byte) (*Autoencoder, error) {
	var m onnxpb.ModelProto
	if err := proto.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("read onnx: %w", err)
	}
	g := m.GetGraph()
	if g == nil || len(g.GetInput()) != 1 {
		return nil, errors.New("read onnx: want a graph with one input")
	}
	inits := map[string]*onnxpb.TensorProto{}
	for _, t := range g.GetInitializer() {
		inits[t.GetName()] = t
	}
	a := &Autoencoder{}
	cur := g.GetInput()[0].GetName()
	for _, n := range g.GetNode() {
		if len(n.GetInput()) == 0 || n.GetInput()[0] != cur || len(n.GetOutput()) != 1 {
			return nil, fmt.Errorf("read onnx: node %q does not continue the chain from %q", n.GetName(), cur)
		}
		switch n.GetOpType() {
		case "Gemm":
			l, err := gemmLayer(n, inits)
			if err != nil {
				return nil, err
			}
			a.Layers = append(a.Layers, l)
		case "Relu":
			if len(a.Layers) == 0 || a.Layers[len(a.Layers)-1].Relu {
				return nil, fmt.Errorf("read onnx: Relu %q does not follow a Gemm", n.GetName())
			}
			a.Layers[len(a.Layers)-1].Relu = true
		default:
			return nil, fmt.Errorf("read onnx: operator %s is not supported by the Go forward pass (is the model quantised?)", n.GetOpType())
		}
		cur = n.GetOutput()[0]
	}
	if len(a.Layers) > 0 {
		a.Window = a.Layers[0].In
	}
	if err := a.Validate(); err != nil {
		return nil, fmt.Errorf("read onnx: %w", err)
	}
	return a, nil
}

func gemmLayer(n *onnxpb.NodeProto, inits map[string]*onnxpb.TensorProto) (Layer, error) {
	for _, at := range n.GetAttribute() {
		switch at.GetName() {
		case "transB":
			if at.GetI() != 1 {
				return Layer{}, fmt.Errorf("read onnx: Gemm %q needs transB=1", n.GetName())
			}
		case "transA":
			if at.GetI() != 0 {
				return Layer{}, fmt.Errorf("read onnx: Gemm %q has transA", n.GetName())
			}
		case "alpha", "beta":
			if at.GetF() != 1 {
				return Layer{}, fmt.Errorf("read onnx: Gemm %q scales by %s=%v", n.GetName(), at.GetName(), at.GetF())
			}
		}
	}
	if len(n.GetInput()) != 3 {
		return Layer{}, fmt.Errorf("read onnx: Gemm %q needs weights and a bias", n.GetName())
	}
	w, wd, err := floats(inits[n.GetInput()[1]])
	if err != nil {
		return Layer{}, fmt.Errorf("read onnx: Gemm %q weights: %w", n.GetName(), err)
	}
	b, _, err := floats(inits[n.GetInput()[2]])
	if err != nil {
		return Layer{}, fmt.Errorf("read onnx: Gemm %q bias: %w", n.GetName(), err)
	}
	if len(wd) != 2 {
		return Layer{}, fmt.Errorf("read onnx: Gemm %q weights have shape %v", n.GetName(), wd)
	}
	return Layer{Out: int(wd[0]), In: int(wd[1]), W: w, B: b}, nil
}

func floats(t *onnxpb.TensorProto) ([]float32, []int64, error) {
	if t == nil {
		return nil, nil, errors.New("not an initializer")
	}
	if t.GetDataType() != int32(onnxpb.TensorProto_FLOAT) {
		return nil, nil, fmt.Errorf("data type %d is not float", t.GetDataType())
	}
	if raw := t.GetRawData(); len(raw) > 0 {
		if len(raw)%4 != 0 {
			return nil, nil, errors.New("raw data is not a whole number of floats")
		}
		out := make([]float32, len(raw)/4)
		for i := range out {
			out[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
		}
		return out, t.GetDims(), nil
	}
	return t.GetFloatData(), t.GetDims(), nil
}

// WindowOf returns the window length recorded in a model's metadata, or the
// width of its input, or 0 when neither can be read.
func WindowOf(data []byte) int {
	var m onnxpb.ModelProto
	if err := proto.Unmarshal(data, &m); err != nil {
		return 0
	}
	for _, p := range m.GetMetadataProps() {
		if p.GetKey() == MetaWindow {
			if n, err := strconv.Atoi(p.GetValue()); err == nil && n > 0 {
				return n
			}
		}
	}
	for _, in := range m.GetGraph().GetInput() {
		dims := in.GetType().GetTensorType().GetShape().GetDim()
		if len(dims) == 2 && dims[1].GetDimValue() > 0 {
			return int(dims[1].GetDimValue())
		}
	}
	return 0
}
