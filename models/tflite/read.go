// Package tflite reads TensorFlow Lite models (the .tflite flatbuffer) and
// translates them to ONNX, so that edgeflow's ONNX stages and tools
// (quantise, compare, bench) work on the many edge models that ship as
// .tflite only.
//
// Read decodes the flatbuffer (through the generated types in
// models/tflite/schema) into plain Go values: tensors with their data,
// quantisation and sparsity parameters, and operators with their options.
// Convert translates the main subgraph to ONNX; see docs/convert.md for the
// operators it knows and how NHWC layout and TFLite's padding rules map.
package tflite

import (
	"fmt"

	flatbuffers "github.com/google/flatbuffers/go"

	"github.com/edgeflow/edgeflow/models/tflite/schema"
)

// Model is a decoded TFLite model: its main subgraph (the first one).
type Model struct {
	Version     uint32
	Description string
	Tensors     []Tensor
	Operators   []Operator
	// Inputs and Outputs are indices into Tensors.
	Inputs, Outputs []int
	// Subgraphs is how many subgraphs the file has (only the first is read).
	Subgraphs int
}

// Tensor is one tensor of the subgraph. Constant tensors have Data (the
// buffer's bytes, little-endian); activations have none.
type Tensor struct {
	Name     string
	Shape    []int
	Type     schema.TensorType
	Data     []byte
	Quant    *Quant
	Sparsity *Sparsity
}

// Quant holds a tensor's affine quantisation: real = Scale·(q − ZeroPoint),
// one scale per tensor or one per slice along Axis (per-channel).
type Quant struct {
	Scale     []float32
	ZeroPoint []int64
	Axis      int
}

// Sparsity describes a tensor stored in TFLite's sparse format: its
// dimensions are traversed in TraversalOrder (original dimensions first,
// then block dimensions, BlockMap naming the original dimension each block
// dimension splits), each dense or CSR-compressed.
type Sparsity struct {
	TraversalOrder []int
	BlockMap       []int
	Dims           []DimMeta
}

// DimMeta is one traversed dimension: dense of DenseSize, or sparse with
// CSR Segments and Indices.
type DimMeta struct {
	Sparse            bool
	DenseSize         int
	Segments, Indices []int
}

// Operator is one node of the subgraph. Inputs and Outputs index Tensors;
// -1 is an omitted optional input.
type Operator struct {
	Code    schema.BuiltinOperator
	Custom  string // the custom operator's name, for CUSTOM
	Inputs  []int
	Outputs []int
	Options Options
}

// Name is the operator's TFLite name (CONV_2D, …, or the custom name).
func (o Operator) Name() string {
	if o.Code == schema.BuiltinOperatorCUSTOM && o.Custom != "" {
		return "CUSTOM:" + o.Custom
	}
	return o.Code.String()
}

// Options are the builtin options edgeflow reads; which fields mean
// something depends on the operator.
type Options struct {
	Padding            schema.Padding
	StrideW, StrideH   int
	DilationW          int
	DilationH          int
	FilterW, FilterH   int
	DepthMultiplier    int
	Activation         schema.ActivationFunctionType
	Axis               int
	NewShape           []int
	Beta, Alpha        float32
	BlockSize          int
	KeepDims           bool
	shuffledWeights    bool
	AlignCorners       bool
	HalfPixelCenters   bool
	hasNewShape        bool
	optionsType        schema.BuiltinOptions
	unknownOptionsType bool
}

// Read decodes a .tflite file's bytes. A malformed file gives an error, never
// a panic.
func Read(data []byte) (m *Model, err error) {
	if len(data) < 8 || string(data[4:8]) != "TFL3" {
		return nil, fmt.Errorf("not a TFLite model (no TFL3 identifier)")
	}
	defer func() {
		// The generated accessors index the buffer without checks: a
		// truncated or corrupt file panics inside them.
		if r := recover(); r != nil {
			m, err = nil, fmt.Errorf("corrupt TFLite model: %v", r)
		}
	}()
	l := limit(len(data))
	fm := schema.GetRootAsModel(data, 0)
	m = &Model{Version: fm.Version(), Description: string(fm.Description()), Subgraphs: fm.SubgraphsLength()}
	if m.Subgraphs == 0 {
		return nil, fmt.Errorf("TFLite model has no subgraph")
	}
	var sg schema.SubGraph
	fm.Subgraphs(&sg, 0)

	// Every vector element takes at least a byte of the file: a longer
	// vector is corrupt, refused before anything is allocated for it.
	for what, n := range map[string]int{"buffers": fm.BuffersLength(), "tensors": sg.TensorsLength(),
		"operators": sg.OperatorsLength(), "operator codes": fm.OperatorCodesLength()} {
		if n > len(data) {
			return nil, fmt.Errorf("corrupt TFLite model: %d %s in %d bytes", n, what, len(data))
		}
	}
	buffers := make([][]byte, fm.BuffersLength())
	for i := range buffers {
		var b schema.Buffer
		fm.Buffers(&b, i)
		if b.Offset() > 1 || b.Size() > 0 {
			// Models over 2 GB keep buffers after the flatbuffer.
			end := b.Offset() + b.Size()
			if end > uint64(len(data)) {
				return nil, fmt.Errorf("buffer %d: offset %d size %d beyond the file", i, b.Offset(), b.Size())
			}
			buffers[i] = data[b.Offset():end]
			continue
		}
		buffers[i] = b.DataBytes()
	}

	m.Tensors = make([]Tensor, sg.TensorsLength())
	for i := range m.Tensors {
		var ft schema.Tensor
		sg.Tensors(&ft, i)
		t := Tensor{Name: string(ft.Name()), Type: ft.Type(), Shape: l.ints(ft.ShapeLength(), ft.Shape)}
		n := 1
		for _, d := range t.Shape {
			if d < 0 || (d > 0 && n > maxElements/d) {
				return nil, fmt.Errorf("tensor %d %q: bad shape %v", i, t.Name, t.Shape)
			}
			n *= d
		}
		if bi := int(ft.Buffer()); bi > 0 {
			if bi >= len(buffers) {
				return nil, fmt.Errorf("tensor %d %q: buffer %d of %d", i, t.Name, bi, len(buffers))
			}
			if len(buffers[bi]) > 0 {
				t.Data = buffers[bi]
			}
		}
		if q := ft.Quantization(nil); q != nil && q.ScaleLength() > 0 {
			t.Quant = &Quant{Axis: int(q.QuantizedDimension())}
			for j := range q.ScaleLength() {
				t.Quant.Scale = append(t.Quant.Scale, q.Scale(j))
			}
			for j := range q.ZeroPointLength() {
				t.Quant.ZeroPoint = append(t.Quant.ZeroPoint, q.ZeroPoint(j))
			}
		}
		if sp := ft.Sparsity(nil); sp != nil {
			s, err := readSparsity(sp, l)
			if err != nil {
				return nil, fmt.Errorf("tensor %d %q: %w", i, t.Name, err)
			}
			t.Sparsity = s
		}
		m.Tensors[i] = t
	}
	m.Inputs = l.ints(sg.InputsLength(), sg.Inputs)
	m.Outputs = l.ints(sg.OutputsLength(), sg.Outputs)
	check := func(what string, idx []int, optional bool) error {
		for _, x := range idx {
			if (x < 0 && !(optional && x == -1)) || x >= len(m.Tensors) {
				return fmt.Errorf("%s: tensor index %d of %d", what, x, len(m.Tensors))
			}
		}
		return nil
	}
	if err := check("subgraph inputs", m.Inputs, false); err != nil {
		return nil, err
	}
	if err := check("subgraph outputs", m.Outputs, false); err != nil {
		return nil, err
	}

	m.Operators = make([]Operator, sg.OperatorsLength())
	for i := range m.Operators {
		var fo schema.Operator
		sg.Operators(&fo, i)
		ci := int(fo.OpcodeIndex())
		if ci >= fm.OperatorCodesLength() {
			return nil, fmt.Errorf("operator %d: opcode %d of %d", i, ci, fm.OperatorCodesLength())
		}
		var oc schema.OperatorCode
		fm.OperatorCodes(&oc, ci)
		// Old files keep the code in the int8 deprecated field; new ones
		// set both, and codes past 127 only in builtin_code.
		code := max(schema.BuiltinOperator(oc.DeprecatedBuiltinCode()), oc.BuiltinCode())
		op := Operator{Code: code, Custom: string(oc.CustomCode()),
			Inputs: l.ints(fo.InputsLength(), fo.Inputs), Outputs: l.ints(fo.OutputsLength(), fo.Outputs)}
		if err := check(fmt.Sprintf("operator %d (%s) inputs", i, op.Name()), op.Inputs, true); err != nil {
			return nil, err
		}
		if err := check(fmt.Sprintf("operator %d (%s) outputs", i, op.Name()), op.Outputs, false); err != nil {
			return nil, err
		}
		op.Options = readOptions(&fo, l)
		m.Operators[i] = op
	}
	return m, nil
}

// maxElements bounds what a tensor may hold (2^31 values): a corrupt shape
// must not make the converter allocate without bound.
const maxElements = 1 << 31

// limit is the size of the file being read: no vector in it can have more
// elements than it has bytes.
type limit int

// ints reads a vector of int32. A vector longer than the file that holds it
// is corrupt: it panics here (Read recovers) before allocating.
func (l limit) ints(n int, at func(int) int32) []int {
	if n > int(l) {
		panic(fmt.Sprintf("vector of %d elements in %d bytes", n, l))
	}
	out := make([]int, n)
	for i := range out {
		out[i] = int(at(i))
	}
	return out
}

func readSparsity(sp *schema.SparsityParameters, l limit) (*Sparsity, error) {
	s := &Sparsity{TraversalOrder: l.ints(sp.TraversalOrderLength(), sp.TraversalOrder),
		BlockMap: l.ints(sp.BlockMapLength(), sp.BlockMap)}
	for j := range sp.DimMetadataLength() {
		var dm schema.DimensionMetadata
		sp.DimMetadata(&dm, j)
		d := DimMeta{Sparse: dm.Format() == schema.DimensionTypeSPARSE_CSR, DenseSize: int(dm.DenseSize())}
		if d.Sparse {
			var err error
			if d.Segments, err = indexVector(l, dm.ArraySegmentsType(), dm.ArraySegments); err != nil {
				return nil, fmt.Errorf("sparsity dim %d segments: %w", j, err)
			}
			if d.Indices, err = indexVector(l, dm.ArrayIndicesType(), dm.ArrayIndices); err != nil {
				return nil, fmt.Errorf("sparsity dim %d indices: %w", j, err)
			}
		}
		s.Dims = append(s.Dims, d)
	}
	return s, nil
}

// indexVector reads a SparseIndexVector union (int32, uint16 or uint8).
func indexVector(l limit, typ schema.SparseIndexVector, get func(*flatbuffers.Table) bool) ([]int, error) {
	var tab flatbuffers.Table
	if !get(&tab) {
		return nil, fmt.Errorf("missing")
	}
	switch typ {
	case schema.SparseIndexVectorInt32Vector:
		var v schema.Int32Vector
		v.Init(tab.Bytes, tab.Pos)
		return l.ints(v.ValuesLength(), v.Values), nil
	case schema.SparseIndexVectorUint16Vector:
		var v schema.Uint16Vector
		v.Init(tab.Bytes, tab.Pos)
		if v.ValuesLength() > int(l) {
			return nil, fmt.Errorf("vector of %d elements in %d bytes", v.ValuesLength(), l)
		}
		out := make([]int, v.ValuesLength())
		for i := range out {
			out[i] = int(v.Values(i))
		}
		return out, nil
	case schema.SparseIndexVectorUint8Vector:
		var v schema.Uint8Vector
		v.Init(tab.Bytes, tab.Pos)
		if v.ValuesLength() > int(l) {
			return nil, fmt.Errorf("vector of %d elements in %d bytes", v.ValuesLength(), l)
		}
		out := make([]int, v.ValuesLength())
		for i := range out {
			out[i] = int(v.Values(i))
		}
		return out, nil
	}
	return nil, fmt.Errorf("unknown index vector type %d", typ)
}
