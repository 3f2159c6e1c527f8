package tflite

import (
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/edgeflow/edgeflow/models"
	"github.com/edgeflow/edgeflow/models/tflite/schema"
)

// A classifier head as mobile classifiers end: a 1×1 convolution (which
// puts the activation in NCHW), MEAN over H and W with keep_dims, a RESHAPE
// to [1, C], FULLY_CONNECTED with fused RELU and SOFTMAX; plus MEAN over H
// alone without keep_dims (its output keeps TFLite's [N, W, C] order), as a
// second output.
func TestConvertClassifierHeadAgainstReference(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	rnd := func(n int) []float32 {
		v := make([]float32, n)
		for i := range v {
			v[i] = float32(r.NormFloat64())
		}
		return v
	}
	const h, w, c, o = 4, 3, 3, 5
	x := rnd(h * w * c)
	f, b := rnd(c*c), rnd(c)
	fw, fb := rnd(o*c), rnd(o)
	m := tModel{
		tensors: []tTensor{
			{name: "x", shape: []int32{1, h, w, c}, typ: schema.TensorTypeFLOAT32},
			{name: "f", shape: []int32{c, 1, 1, c}, typ: schema.TensorTypeFLOAT32, data: f32bytes(f...)},
			{name: "b", shape: []int32{c}, typ: schema.TensorTypeFLOAT32, data: f32bytes(b...)},
			{name: "y", shape: []int32{1, h, w, c}, typ: schema.TensorTypeFLOAT32},
			{name: "hw", shape: []int32{2}, typ: schema.TensorTypeINT32, data: i32bytes(1, 2)},
			{name: "pooled", shape: []int32{1, 1, 1, c}, typ: schema.TensorTypeFLOAT32},
			{name: "flat", shape: []int32{1, c}, typ: schema.TensorTypeFLOAT32},
			{name: "fw", shape: []int32{o, c}, typ: schema.TensorTypeFLOAT32, data: f32bytes(fw...)},
			{name: "fb", shape: []int32{o}, typ: schema.TensorTypeFLOAT32, data: f32bytes(fb...)},
			{name: "logits", shape: []int32{1, o}, typ: schema.TensorTypeFLOAT32},
			{name: "probs", shape: []int32{1, o}, typ: schema.TensorTypeFLOAT32},
			{name: "h", shape: []int32{1}, typ: schema.TensorTypeINT32, data: i32bytes(1)},
			{name: "rows", shape: []int32{1, w, c}, typ: schema.TensorTypeFLOAT32},
		},
		ops: []tOp{
			{code: schema.BuiltinOperatorCONV_2D, in: []int32{0, 1, 2}, out: []int32{3}, opts: convOpts(schema.PaddingVALID, 1, schema.ActivationFunctionTypeNONE)},
			{code: schema.BuiltinOperatorMEAN, in: []int32{3, 4}, out: []int32{5}, opts: meanOpts(true)},
			{code: schema.BuiltinOperatorRESHAPE, in: []int32{5}, out: []int32{6}},
			{code: schema.BuiltinOperatorFULLY_CONNECTED, in: []int32{6, 7, 8}, out: []int32{9}, opts: fcOpts(schema.ActivationFunctionTypeRELU)},
			{code: schema.BuiltinOperatorSOFTMAX, in: []int32{9}, out: []int32{10}, opts: softmaxOpts()},
			{code: schema.BuiltinOperatorMEAN, in: []int32{3, 11}, out: []int32{12}, opts: meanOpts(false)},
		},
		in: []int32{0}, out: []int32{10, 12},
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
	pooled := make([]float32, c)
	rows := make([]float32, w*c)
	for p := range h * w {
		for ch := range c {
			pooled[ch] += y[p*c+ch] / (h * w)
			rows[(p%w)*c+ch] += y[p*c+ch] / h
		}
	}
	logits := make([]float32, o)
	var sum float64
	for i := range o {
		s := fb[i]
		for j := range c {
			s += fw[i*c+j] * pooled[j]
		}
		logits[i] = max(s, 0)
		sum += math.Exp(float64(logits[i]))
	}
	for i := range o {
		if want := float32(math.Exp(float64(logits[i])) / sum); math.Abs(float64(got[0].Data[i]-want)) > 1e-5 {
			t.Errorf("probability %d: got %g, want %g", i, got[0].Data[i], want)
		}
	}
	if sh := got[1].Shape; len(sh) != 3 || sh[1] != w || sh[2] != c {
		t.Fatalf("MEAN over H: shape %v, want [1 %d %d]", sh, w, c)
	}
	for i := range rows {
		if math.Abs(float64(got[1].Data[i]-rows[i])) > 1e-5 {
			t.Fatalf("MEAN over H value %d: got %g, want %g", i, got[1].Data[i], rows[i])
		}
	}
}
