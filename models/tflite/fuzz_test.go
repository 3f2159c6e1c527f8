package tflite

import (
	"testing"

	"github.com/edgeflow/edgeflow/models/tflite/schema"
)

// FuzzReadConvert: no input makes Read or Convert panic.
func FuzzReadConvert(f *testing.F) {
	f.Add(tModel{
		tensors: []tTensor{
			{name: "x", shape: []int32{1, 2, 2, 1}, typ: schema.TensorTypeFLOAT32},
			{name: "f", shape: []int32{1, 1, 1, 1}, typ: schema.TensorTypeFLOAT16, data: []byte{0, 0x3c}},
			{name: "w", shape: []int32{1, 1, 1, 1}, typ: schema.TensorTypeFLOAT32},
			{name: "y", shape: []int32{1, 2, 2, 1}, typ: schema.TensorTypeFLOAT32},
		},
		ops: []tOp{
			{code: schema.BuiltinOperatorDEQUANTIZE, in: []int32{1}, out: []int32{2}},
			{code: schema.BuiltinOperatorCONV_2D, in: []int32{0, 2, -1}, out: []int32{3}, opts: convOpts(schema.PaddingSAME, 1, schema.ActivationFunctionTypeRELU)},
		},
		in: []int32{0}, out: []int32{3},
	}.bytes())
	f.Add(tModel{
		tensors: []tTensor{{name: "x", shape: []int32{2}, typ: schema.TensorTypeFLOAT16, data: []byte{0, 0x3c, 0, 0x3c}}},
		ops:     []tOp{{code: schema.BuiltinOperatorDEQUANTIZE, in: []int32{0}}},
		in:      []int32{}, out: []int32{0},
	}.bytes())
	f.Add([]byte("xxxxTFL3"))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := Read(data)
		if err != nil {
			return
		}
		_, _ = Convert(m)
	})
}
