package graph

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/edgeflow/edgeflow/models/onnxpb"
	"google.golang.org/protobuf/proto"
)

// Elements is the number of values a tensor with these dims holds.
func Elements(dims []int64) int64 {
	n := int64(1)
	for _, d := range dims {
		n *= d
	}
	return n
}

// MaxElements bounds the values a tensor read from a model file may claim
// (2^31, 8 GB of float32): no model edgeflow handles comes near it, and
// the bound keeps a few bytes of hostile dims from asking for terabytes.
const MaxElements = 1 << 31

// Size is Elements for dims read from a model file: it refuses a negative
// dimension and a count above MaxElements, which also catches a product
// that overflows (Elements of [2^32, 2^32] is 0, of [-1, -1] is 1).
func Size(dims []int64) (int64, error) {
	n := int64(1)
	for _, d := range dims {
		if d < 0 || d > MaxElements || (d != 0 && n > MaxElements/d) {
			return 0, fmt.Errorf("dims %v: want non-negative dimensions and at most %d values", dims, int64(MaxElements))
		}
		n *= d
	}
	return n, nil
}

// DataType returns a tensor's element type.
func DataType(t *onnxpb.TensorProto) onnxpb.TensorProto_DataType {
	return onnxpb.TensorProto_DataType(t.GetDataType())
}

// Floats returns a float32 or float64 tensor's values as float32, whether
// they are stored in float_data, double_data or raw_data.
func Floats(t *onnxpb.TensorProto) ([]float32, error) {
	n, err := Size(t.GetDims())
	if err != nil {
		return nil, fmt.Errorf("tensor %q: %w", t.GetName(), err)
	}
	switch DataType(t) {
	case onnxpb.TensorProto_FLOAT:
		if raw := t.GetRawData(); raw != nil {
			if int64(len(raw)) != 4*n {
				return nil, fmt.Errorf("tensor %q: raw data has %d bytes, want %d", t.GetName(), len(raw), 4*n)
			}
			out := make([]float32, n)
			for i := range out {
				out[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
			}
			return out, nil
		}
		if int64(len(t.GetFloatData())) != n {
			return nil, fmt.Errorf("tensor %q: %d values, want %d", t.GetName(), len(t.GetFloatData()), n)
		}
		return append([]float32(nil), t.GetFloatData()...), nil
	case onnxpb.TensorProto_DOUBLE:
		if raw := t.GetRawData(); raw != nil {
			if int64(len(raw)) != 8*n {
				return nil, fmt.Errorf("tensor %q: raw data has %d bytes, want %d", t.GetName(), len(raw), 8*n)
			}
			out := make([]float32, n)
			for i := range out {
				out[i] = float32(math.Float64frombits(binary.LittleEndian.Uint64(raw[8*i:])))
			}
			return out, nil
		}
		if int64(len(t.GetDoubleData())) != n {
			return nil, fmt.Errorf("tensor %q: %d values, want %d", t.GetName(), len(t.GetDoubleData()), n)
		}
		out := make([]float32, n)
		for i, v := range t.GetDoubleData() {
			out[i] = float32(v)
		}
		return out, nil
	}
	return nil, fmt.Errorf("tensor %q has element type %s, not float", t.GetName(), DataType(t))
}

// Int64s returns an integer tensor's values (int64, int32) as int64, as
// shape, axes and split tensors hold them.
func Int64s(t *onnxpb.TensorProto) ([]int64, error) {
	n, err := Size(t.GetDims())
	if err != nil {
		return nil, fmt.Errorf("tensor %q: %w", t.GetName(), err)
	}
	raw := t.GetRawData()
	switch DataType(t) {
	case onnxpb.TensorProto_INT64:
		if raw != nil {
			if int64(len(raw)) != 8*n {
				return nil, fmt.Errorf("tensor %q: raw data has %d bytes, want %d", t.GetName(), len(raw), 8*n)
			}
			out := make([]int64, n)
			for i := range out {
				out[i] = int64(binary.LittleEndian.Uint64(raw[8*i:]))
			}
			return out, nil
		}
		if int64(len(t.GetInt64Data())) != n {
			return nil, fmt.Errorf("tensor %q: %d values, want %d", t.GetName(), len(t.GetInt64Data()), n)
		}
		return append([]int64(nil), t.GetInt64Data()...), nil
	case onnxpb.TensorProto_INT32:
		if raw != nil {
			if int64(len(raw)) != 4*n {
				return nil, fmt.Errorf("tensor %q: raw data has %d bytes, want %d", t.GetName(), len(raw), 4*n)
			}
			out := make([]int64, n)
			for i := range out {
				out[i] = int64(int32(binary.LittleEndian.Uint32(raw[4*i:])))
			}
			return out, nil
		}
		if int64(len(t.GetInt32Data())) != n {
			return nil, fmt.Errorf("tensor %q: %d values, want %d", t.GetName(), len(t.GetInt32Data()), n)
		}
		out := make([]int64, n)
		for i, v := range t.GetInt32Data() {
			out[i] = int64(v)
		}
		return out, nil
	}
	return nil, fmt.Errorf("tensor %q has element type %s, not an integer type", t.GetName(), DataType(t))
}

// FloatTensor makes a float32 tensor stored as raw data.
func FloatTensor(name string, dims []int64, data []float32) *onnxpb.TensorProto {
	raw := make([]byte, 4*len(data))
	for i, v := range data {
		binary.LittleEndian.PutUint32(raw[4*i:], math.Float32bits(v))
	}
	return rawTensor(name, onnxpb.TensorProto_FLOAT, dims, raw)
}

// Int8Tensor makes an int8 tensor.
func Int8Tensor(name string, dims []int64, data []int8) *onnxpb.TensorProto {
	raw := make([]byte, len(data))
	for i, v := range data {
		raw[i] = byte(v)
	}
	return rawTensor(name, onnxpb.TensorProto_INT8, dims, raw)
}

// Uint8Tensor makes a uint8 tensor.
func Uint8Tensor(name string, dims []int64, data []uint8) *onnxpb.TensorProto {
	return rawTensor(name, onnxpb.TensorProto_UINT8, dims, append([]byte(nil), data...))
}

// Int32Tensor makes an int32 tensor.
func Int32Tensor(name string, dims []int64, data []int32) *onnxpb.TensorProto {
	raw := make([]byte, 4*len(data))
	for i, v := range data {
		binary.LittleEndian.PutUint32(raw[4*i:], uint32(v))
	}
	return rawTensor(name, onnxpb.TensorProto_INT32, dims, raw)
}

// Int64Tensor makes an int64 tensor.
func Int64Tensor(name string, dims []int64, data []int64) *onnxpb.TensorProto {
	raw := make([]byte, 8*len(data))
	for i, v := range data {
		binary.LittleEndian.PutUint64(raw[8*i:], uint64(v))
	}
	return rawTensor(name, onnxpb.TensorProto_INT64, dims, raw)
}

func rawTensor(name string, dt onnxpb.TensorProto_DataType, dims []int64, raw []byte) *onnxpb.TensorProto {
	if dims == nil {
		dims = []int64{}
	}
	return &onnxpb.TensorProto{Name: proto.String(name), DataType: proto.Int32(int32(dt)),
		Dims: append([]int64(nil), dims...), RawData: raw}
}

// FloatValueInfo describes a float32 tensor for a graph's inputs and
// outputs. A negative dimension is the dynamic batch dimension "N"; with no
// dimensions the shape is left unknown, the way extra outputs are added for
// calibration.
func FloatValueInfo(name string, dims ...int64) *onnxpb.ValueInfoProto {
	var shape *onnxpb.TensorShapeProto
	if len(dims) > 0 {
		shape = &onnxpb.TensorShapeProto{}
	}
	for _, d := range dims {
		dim := &onnxpb.TensorShapeProto_Dimension{}
		if d < 0 {
			dim.Value = &onnxpb.TensorShapeProto_Dimension_DimParam{DimParam: "N"}
		} else {
			dim.Value = &onnxpb.TensorShapeProto_Dimension_DimValue{DimValue: d}
		}
		shape.Dim = append(shape.Dim, dim)
	}
	return &onnxpb.ValueInfoProto{Name: proto.String(name), Type: &onnxpb.TypeProto{Value: &onnxpb.TypeProto_TensorType{
		TensorType: &onnxpb.TypeProto_Tensor{ElemType: proto.Int32(int32(onnxpb.TensorProto_FLOAT)), Shape: shape}}}}
}
