package models

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/edgeflow/edgeflow/models/onnxpb"
	ort "github.com/yalue/onnxruntime_go"
	"google.golang.org/protobuf/proto"
)

// Info describes a model: its graph's metadata from the ONNX protobuf and its
// inputs and outputs as ONNX Runtime sees them.
type Info struct {
	Path   string // the file it was loaded from, if any
	Size   int64  // bytes
	SHA256 string // hex

	IRVersion       int64
	Opset           int64            // of the default ("ai.onnx") domain
	Opsets          map[string]int64 // every imported domain ("" is ai.onnx)
	Producer        string
	ProducerVersion string
	GraphName       string

	// Operators counts the nodes of each op type, subgraphs included; ops
	// of other domains are prefixed with their domain ("com.microsoft.QGemm").
	Operators    map[string]int
	Nodes        int
	Initializers int
	Parameters   int64 // elements in all initializers

	Inputs  []IO
	Outputs []IO

	// Metadata holds the model's metadata_props.
	Metadata map[string]string
}

// Quantized reports whether the model has int8 operators (QDQ,
// QOperator or dynamic quantisation), whose ORT kernels differ by CPU.
func (i *Info) Quantized() bool {
	for op := range i.Operators {
		switch strings.TrimPrefix(op, "com.microsoft.") {
		case "QuantizeLinear", "DequantizeLinear", "QLinearConv", "QLinearMatMul", "MatMulInteger", "ConvInteger", "DynamicQuantizeLinear", "QGemm":
			return true
		}
	}
	return false
}

// IO is one model input or output.
type IO struct {
	Name string
	// Kind is "tensor", "sequence", "map", ... (ORT's ONNX type).
	Kind string
	// Type is the element type: "float32", "int64", ...
	Type string
	// Shape has -1 for dynamic dimensions; DimNames holds their symbolic
	// names ("batch", "N") where the model gives one, else "".
	Shape    []int64
	DimNames []string

	elem ort.TensorElementDataType
}

// Float32 reports whether the IO is a float32 tensor, the only kind the
// onnx stage feeds and reads directly.
func (io IO) Float32() bool {
	return io.Kind == "tensor" && io.elem == ort.TensorElementDataTypeFloat
}

// DynamicBatch reports whether dimension 0 is dynamic, so that samples can
// be stacked along it.
func (io IO) DynamicBatch() bool { return len(io.Shape) >= 2 && io.Shape[0] < 0 }

// ShapeString renders a shape as [N,3,416,416], naming dynamic dims.
func (io IO) ShapeString() string {
	parts := make([]string, len(io.Shape))
	for i, d := range io.Shape {
		switch {
		case d >= 0:
			parts[i] = fmt.Sprint(d)
		case i < len(io.DimNames) && io.DimNames[i] != "":
			parts[i] = io.DimNames[i]
		default:
			parts[i] = "?"
		}
	}
	return "[" + strings.Join(parts, ",") + "]"
}

func (io IO) String() string { return fmt.Sprintf("%s %s%s", io.Name, io.Type, io.ShapeString()) }

// Input returns the input called name.
func (i *Info) Input(name string) (IO, bool) { return findIO(i.Inputs, name) }

// Output returns the output called name.
func (i *Info) Output(name string) (IO, bool) { return findIO(i.Outputs, name) }

func findIO(list []IO, name string) (IO, bool) {
	for _, io := range list {
		if io.Name == name {
			return io, true
		}
	}
	return IO{}, false
}

// InputNames lists the inputs' names in model order.
func (i *Info) InputNames() []string { return ioNames(i.Inputs) }

// OutputNames lists the outputs' names in model order.
func (i *Info) OutputNames() []string { return ioNames(i.Outputs) }

func ioNames(list []IO) []string {
	out := make([]string, len(list))
	for k, io := range list {
		out[k] = io.Name
	}
	return out
}

// OperatorNames returns the operator types sorted by count, most used first.
func (i *Info) OperatorNames() []string {
	names := make([]string, 0, len(i.Operators))
	for n := range i.Operators {
		names = append(names, n)
	}
	slices.SortFunc(names, func(a, b string) int {
		if d := i.Operators[b] - i.Operators[a]; d != 0 {
			return d
		}
		return strings.Compare(a, b)
	})
	return names
}

// Inspect reads a model file and describes it. It needs the ONNX Runtime
// (Init) for the input and output types.
func Inspect(path string) (*Info, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read model: %w", err)
	}
	info, err := InspectBytes(data)
	if err != nil {
		return nil, fmt.Errorf("model %s: %w", path, err)
	}
	info.Path = path
	return info, nil
}

// InspectBytes describes a serialised model.
func InspectBytes(data []byte) (*Info, error) {
	var m onnxpb.ModelProto
	if err := proto.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("not an ONNX model: %w", err)
	}
	if m.GetGraph() == nil {
		return nil, fmt.Errorf("not an ONNX model: no graph")
	}
	sum := sha256.Sum256(data)
	info := &Info{
		Size: int64(len(data)), SHA256: hex.EncodeToString(sum[:]),
		IRVersion: m.GetIrVersion(), Producer: m.GetProducerName(),
		ProducerVersion: m.GetProducerVersion(), GraphName: m.GetGraph().GetName(),
		Opsets: map[string]int64{}, Operators: map[string]int{},
	}
	for _, o := range m.GetOpsetImport() {
		info.Opsets[o.GetDomain()] = o.GetVersion()
		if d := o.GetDomain(); d == "" || d == "ai.onnx" {
			info.Opset = o.GetVersion()
		}
	}
	countGraph(info, m.GetGraph())
	for _, p := range m.GetMetadataProps() {
		if info.Metadata == nil {
			info.Metadata = map[string]string{}
		}
		info.Metadata[p.GetKey()] = p.GetValue()
	}

	if err := Init(""); err != nil {
		return nil, err
	}
	ins, outs, err := ort.GetInputOutputInfoWithONNXData(data)
	if err != nil {
		return nil, fmt.Errorf("ONNX Runtime rejects the model: %w", err)
	}
	params := dimParams(m.GetGraph())
	info.Inputs = convertIO(ins, params)
	info.Outputs = convertIO(outs, params)
	return info, nil
}

func countGraph(info *Info, g *onnxpb.GraphProto) {
	info.Initializers += len(g.GetInitializer())
	for _, t := range g.GetInitializer() {
		n := int64(1)
		for _, d := range t.GetDims() {
			n *= d
		}
		info.Parameters += n
	}
	for _, n := range g.GetNode() {
		info.Nodes++
		op := n.GetOpType()
		if d := n.GetDomain(); d != "" && d != "ai.onnx" {
			op = d + "." + op
		}
		info.Operators[op]++
		for _, a := range n.GetAttribute() {
			if a.GetG() != nil {
				countGraph(info, a.GetG())
			}
			for _, sub := range a.GetGraphs() {
				countGraph(info, sub)
			}
		}
	}
}

// dimParams maps graph input/output names to their dims' symbolic names.
func dimParams(g *onnxpb.GraphProto) map[string][]string {
	out := map[string][]string{}
	for _, vi := range slices.Concat(g.GetInput(), g.GetOutput()) {
		dims := vi.GetType().GetTensorType().GetShape().GetDim()
		names := make([]string, len(dims))
		for i, d := range dims {
			names[i] = d.GetDimParam()
		}
		out[vi.GetName()] = names
	}
	return out
}

func convertIO(list []ort.InputOutputInfo, params map[string][]string) []IO {
	out := make([]IO, len(list))
	for i, x := range list {
		io := IO{Name: x.Name, Kind: onnxKind(x.OrtValueType), elem: x.DataType,
			Type: elemName(x.DataType), Shape: []int64(x.Dimensions.Clone())}
		if io.Shape == nil {
			io.Shape = []int64{}
		}
		io.DimNames = make([]string, len(io.Shape))
		if names := params[x.Name]; len(names) == len(io.Shape) {
			copy(io.DimNames, names)
		}
		out[i] = io
	}
	return out
}

func onnxKind(t ort.ONNXType) string {
	switch t {
	case ort.ONNXTypeTensor:
		return "tensor"
	case ort.ONNXTypeSequence:
		return "sequence"
	case ort.ONNXTypeMap:
		return "map"
	case ort.ONNXTypeOpaque:
		return "opaque"
	case ort.ONNXTypeSparseTensor:
		return "sparse_tensor"
	case ort.ONNXTypeOptional:
		return "optional"
	}
	return "unknown"
}

func elemName(t ort.TensorElementDataType) string {
	switch t {
	case ort.TensorElementDataTypeFloat:
		return "float32"
	case ort.TensorElementDataTypeDouble:
		return "float64"
	case ort.TensorElementDataTypeFloat16:
		return "float16"
	case ort.TensorElementDataTypeBFloat16:
		return "bfloat16"
	case ort.TensorElementDataTypeInt8:
		return "int8"
	case ort.TensorElementDataTypeUint8:
		return "uint8"
	case ort.TensorElementDataTypeInt16:
		return "int16"
	case ort.TensorElementDataTypeUint16:
		return "uint16"
	case ort.TensorElementDataTypeInt32:
		return "int32"
	case ort.TensorElementDataTypeUint32:
		return "uint32"
	case ort.TensorElementDataTypeInt64:
		return "int64"
	case ort.TensorElementDataTypeUint64:
		return "uint64"
	case ort.TensorElementDataTypeBool:
		return "bool"
	case ort.TensorElementDataTypeString:
		return "string"
	}
	return fmt.Sprintf("type%d", int(t))
}
