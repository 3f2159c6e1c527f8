package tflite

import (
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	flatbuffers "github.com/google/flatbuffers/go"

	"github.com/edgeflow/edgeflow/models"
	"github.com/edgeflow/edgeflow/models/tflite/schema"
)

// Elementwise operators on an activation held NCHW, with constants that
// TFLite broadcasts along the last (channel) axis: MUL by [C], SUB of a
// scalar, MAXIMUM of two activations, PRELU with alpha [1,1,C], LEAKY_RELU,
// LOGISTIC, and a graph output of rank 4.
func TestConvertElementwiseBroadcastAgainstReference(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	rnd := func(n int) []float32 {
		v := make([]float32, n)
		for i := range v {
			v[i] = float32(r.NormFloat64())
		}
		return v
	}
	const h, w, c = 2, 3, 3
	x, f, b := rnd(h*w*c), rnd(c*c), rnd(c)
	k, alpha := rnd(c), rnd(c)
	leaky := func(b *flatbuffers.Builder) (schema.BuiltinOptions, flatbuffers.UOffsetT) {
		schema.LeakyReluOptionsStart(b)
		schema.LeakyReluOptionsAddAlpha(b, 0.25)
		return schema.BuiltinOptionsLeakyReluOptions, schema.LeakyReluOptionsEnd(b)
	}
	maxmin := func(b *flatbuffers.Builder) (schema.BuiltinOptions, flatbuffers.UOffsetT) {
		schema.MaximumMinimumOptionsStart(b)
		return schema.BuiltinOptionsMaximumMinimumOptions, schema.MaximumMinimumOptionsEnd(b)
	}
	act := func(name string) tTensor {
		return tTensor{name: name, shape: []int32{1, h, w, c}, typ: schema.TensorTypeFLOAT32}
	}
	m := tModel{
		tensors: []tTensor{
			act("x"),
			{name: "f", shape: []int32{c, 1, 1, c}, typ: schema.TensorTypeFLOAT32, data: f32bytes(f...)},
			{name: "b", shape: []int32{c}, typ: schema.TensorTypeFLOAT32, data: f32bytes(b...)},
			act("y"),
			{name: "k", shape: []int32{c}, typ: schema.TensorTypeFLOAT32, data: f32bytes(k...)},
			act("mul"),
			{name: "one", shape: []int32{}, typ: schema.TensorTypeFLOAT32, data: f32bytes(1)},
			act("sub"),
			act("max"),
			{name: "alpha", shape: []int32{1, 1, c}, typ: schema.TensorTypeFLOAT32, data: f32bytes(alpha...)},
			act("prelu"),
			act("leaky"),
			act("out"),
		},
		ops: []tOp{
			{code: schema.BuiltinOperatorCONV_2D, in: []int32{0, 1, 2}, out: []int32{3}, opts: convOpts(schema.PaddingVALID, 1, schema.ActivationFunctionTypeNONE)},
			{code: schema.BuiltinOperatorMUL, in: []int32{3, 4}, out: []int32{5}},
			{code: schema.BuiltinOperatorSUB, in: []int32{5, 6}, out: []int32{7}},
			{code: schema.BuiltinOperatorMAXIMUM, in: []int32{7, 3}, out: []int32{8}, opts: maxmin},
			{code: schema.BuiltinOperatorPRELU, in: []int32{8, 9}, out: []int32{10}},
			{code: schema.BuiltinOperatorLEAKY_RELU, in: []int32{10}, out: []int32{11}, opts: leaky},
			{code: schema.BuiltinOperatorLOGISTIC, in: []int32{11}, out: []int32{12}},
		},
		in: []int32{0}, out: []int32{12},
	}
	dir := t.TempDir()
	in, out := filepath.Join(dir, "m.tflite"), filepath.Join(dir, "m.onnx")
	if err := os.WriteFile(in, m.bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ConvertFile(in, out); err != nil {
		t.Fatal(err)
	}
	got, err := session(t, out).Run([]models.Tensor{{Shape: []int64{1, h, w, c}, Data: x}})
	if err != nil {
		t.Fatal(err)
	}
	y, _, _ := convNHWC(x, h, w, c, f, c, 1, 1, b, 1, false, false)
	for i := range y {
		ch := i % c
		v := max(y[i]*k[ch]-1, y[i])
		if v < 0 {
			v *= alpha[ch]
		}
		if v < 0 {
			v *= 0.25
		}
		want := float32(1 / (1 + math.Exp(-float64(v))))
		if math.Abs(float64(got[0].Data[i]-want)) > 1e-5 {
			t.Fatalf("value %d: got %g, want %g", i, got[0].Data[i], want)
		}
	}
}
