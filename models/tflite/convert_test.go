package tflite

import (
	"errors"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/edgeflow/edgeflow/models"
	"github.com/edgeflow/edgeflow/models/graph"
	"github.com/edgeflow/edgeflow/models/tflite/schema"
)

// convNHWC is a plain reference convolution in TFLite's layout: filter
// [O,KH,KW,I] (depthwise: [1,KH,KW,C]), SAME or VALID padding as TFLite
// computes it.
func convNHWC(x []float32, h, w, c int, f []float32, o, kh, kw int, bias []float32, stride int, same, depthwise bool) ([]float32, int, int) {
	var oh, ow, pt, pl int
	if same {
		oh, ow = (h+stride-1)/stride, (w+stride-1)/stride
		pt = max((oh-1)*stride+kh-h, 0) / 2
		pl = max((ow-1)*stride+kw-w, 0) / 2
	} else {
		oh, ow = (h-kh)/stride+1, (w-kw)/stride+1
	}
	out := make([]float32, oh*ow*o)
	for y := range oh {
		for xo := range ow {
			for oc := range o {
				s := bias[oc]
				for ky := range kh {
					for kx := range kw {
						iy, ix := y*stride+ky-pt, xo*stride+kx-pl
						if iy < 0 || ix < 0 || iy >= h || ix >= w {
							continue
						}
						if depthwise {
							s += x[(iy*w+ix)*c+oc] * f[(ky*kw+kx)*o+oc]
							continue
						}
						for ic := range c {
							s += x[(iy*w+ix)*c+ic] * f[((oc*kh+ky)*kw+kx)*c+ic]
						}
					}
				}
				out[(y*ow+xo)*o+oc] = s
			}
		}
	}
	return out, oh, ow
}

// A synthetic model exercising the layout handling against a Go reference
// in TFLite's own NHWC terms: a strided SAME convolution on an odd-sized
// input (TFLite puts the odd padding pixel at the end) with fused RELU6, a
// depthwise convolution, an ADD of a per-channel constant (broadcast on
// the last NHWC axis), a channel CONCATENATION and a RESHAPE that flattens
// in NHWC order.
func TestConvertLayoutAgainstReference(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	rnd := func(n int) []float32 {
		v := make([]float32, n)
		for i := range v {
			v[i] = float32(r.NormFloat64())
		}
		return v
	}
	const h, w, c, o = 7, 6, 2, 3
	x := rnd(h * w * c)
	f1, b1 := rnd(o*3*3*c), rnd(o)
	f2, b2 := rnd(3*3*o), rnd(o)
	k := rnd(o)
	m := tModel{
		tensors: []tTensor{
			{name: "x", shape: []int32{1, h, w, c}, typ: schema.TensorTypeFLOAT32},
			{name: "f1", shape: []int32{o, 3, 3, c}, typ: schema.TensorTypeFLOAT32, data: f32bytes(f1...)},
			{name: "b1", shape: []int32{o}, typ: schema.TensorTypeFLOAT32, data: f32bytes(b1...)},
			{name: "y1", shape: []int32{1, 4, 3, o}, typ: schema.TensorTypeFLOAT32},
			{name: "f2", shape: []int32{1, 3, 3, o}, typ: schema.TensorTypeFLOAT32, data: f32bytes(f2...)},
			{name: "b2", shape: []int32{o}, typ: schema.TensorTypeFLOAT32, data: f32bytes(b2...)},
			{name: "y2", shape: []int32{1, 4, 3, o}, typ: schema.TensorTypeFLOAT32},
			{name: "k", shape: []int32{o}, typ: schema.TensorTypeFLOAT32, data: f32bytes(k...)},
			{name: "y3", shape: []int32{1, 4, 3, o}, typ: schema.TensorTypeFLOAT32},
			{name: "y4", shape: []int32{1, 4, 3, 2 * o}, typ: schema.TensorTypeFLOAT32},
			{name: "out", shape: []int32{1, 4 * 3 * 2 * o}, typ: schema.TensorTypeFLOAT32},
		},
		ops: []tOp{
			{code: schema.BuiltinOperatorCONV_2D, in: []int32{0, 1, 2}, out: []int32{3}, opts: convOpts(schema.PaddingSAME, 2, schema.ActivationFunctionTypeRELU6)},
			{code: schema.BuiltinOperatorDEPTHWISE_CONV_2D, in: []int32{3, 4, 5}, out: []int32{6}, opts: dwOpts(schema.PaddingSAME, 1)},
			{code: schema.BuiltinOperatorADD, in: []int32{6, 7}, out: []int32{8}},
			{code: schema.BuiltinOperatorCONCATENATION, in: []int32{8, 3}, out: []int32{9}, opts: concatOpts(3)},
			{code: schema.BuiltinOperatorRESHAPE, in: []int32{9}, out: []int32{10}},
		},
		in: []int32{0}, out: []int32{10},
	}
	dir := t.TempDir()
	in, out := filepath.Join(dir, "m.tflite"), filepath.Join(dir, "m.onnx")
	if err := os.WriteFile(in, m.bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ConvertFile(in, out); err != nil {
		t.Fatal(err)
	}
	s := session(t, out)
	got, err := s.Run([]models.Tensor{{Shape: []int64{1, h, w, c}, Data: x}})
	if err != nil {
		t.Fatal(err)
	}

	y1, oh, ow := convNHWC(x, h, w, c, f1, o, 3, 3, b1, 2, true, false)
	if oh != 4 || ow != 3 {
		t.Fatalf("reference output %dx%d", oh, ow)
	}
	for i := range y1 {
		y1[i] = min(max(y1[i], 0), 6)
	}
	y2, _, _ := convNHWC(y1, 4, 3, o, f2, o, 3, 3, b2, 1, true, true)
	var want []float32
	for p := range 4 * 3 {
		for ch := range o {
			want = append(want, y2[p*o+ch]+k[ch])
		}
		want = append(want, y1[p*o:(p+1)*o]...)
	}
	if len(got[0].Data) != len(want) {
		t.Fatalf("got %d values, want %d", len(got[0].Data), len(want))
	}
	for i := range want {
		if math.Abs(float64(got[0].Data[i]-want[i])) > 1e-4 {
			t.Fatalf("value %d: got %g, want %g", i, got[0].Data[i], want[i])
		}
	}
}

// Unsupported operators fail the conversion, listed by name and count, and
// no file is written.
func TestConvertListsUnsupportedOperators(t *testing.T) {
	m := tModel{
		tensors: []tTensor{
			{name: "x", shape: []int32{1, 4}, typ: schema.TensorTypeFLOAT32},
			{name: "a", shape: []int32{1, 4}, typ: schema.TensorTypeFLOAT32},
			{name: "b", shape: []int32{1, 4}, typ: schema.TensorTypeFLOAT32},
			{name: "c", shape: []int32{1, 4}, typ: schema.TensorTypeFLOAT32},
			{name: "d", shape: []int32{1, 4}, typ: schema.TensorTypeFLOAT32},
		},
		ops: []tOp{
			{code: schema.BuiltinOperatorRELU, in: []int32{0}, out: []int32{1}},
			{code: schema.BuiltinOperatorSQUARED_DIFFERENCE, in: []int32{1, 0}, out: []int32{2}},
			{code: schema.BuiltinOperatorSQUARED_DIFFERENCE, in: []int32{2, 0}, out: []int32{3}},
			{code: schema.BuiltinOperatorCUSTOM, custom: "TFLite_Detection_PostProcess", in: []int32{3}, out: []int32{4}},
		},
		in: []int32{0}, out: []int32{4},
	}
	dir := t.TempDir()
	in, out := filepath.Join(dir, "m.tflite"), filepath.Join(dir, "m.onnx")
	if err := os.WriteFile(in, m.bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := ConvertFile(in, out)
	var ue *UnsupportedError
	if !errors.As(err, &ue) {
		t.Fatalf("err = %v, want an UnsupportedError", err)
	}
	want := "unsupported TFLite operators: CUSTOM:TFLite_Detection_PostProcess ×1, SQUARED_DIFFERENCE ×2"
	if !strings.Contains(err.Error(), want) {
		t.Errorf("err = %q, want it to contain %q", err, want)
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("an output file was written: %v", err)
	}
}

// Malformed files give errors, never panics.
func TestReadRejectsMalformedFiles(t *testing.T) {
	data, err := os.ReadFile(need(t, shortPath))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Read([]byte("not a model")); err == nil {
		t.Error("garbage accepted")
	}
	for _, n := range []int{8, 64, 1000, len(data) / 2} {
		cut := append([]byte(nil), data[:n]...)
		if _, err := Read(cut); err == nil {
			// A cut that keeps every table the reader touches may parse;
			// then Convert must still not panic.
			if m, _ := Read(cut); m != nil {
				_, _ = Convert(m)
			}
		}
	}
	// Flip bytes through the file: errors or a model, never a panic.
	r := rand.New(rand.NewPCG(3, 4))
	for range 100 {
		bad := append([]byte(nil), data...)
		for range 8 {
			bad[8+r.IntN(len(bad)-8)] = byte(r.IntN(256))
		}
		if m, err := Read(bad); err == nil {
			_, _ = Convert(m)
		}
	}
}

func TestHalfToFloat(t *testing.T) {
	for h, want := range map[uint16]float32{0x3c00: 1, 0xc000: -2, 0x3555: 0.333251953125, 0x0001: 5.960464477539063e-08, 0x7bff: 65504, 0x8000: float32(math.Copysign(0, -1))} {
		if got := halfToFloat(h); got != want || math.Signbit(float64(got)) != math.Signbit(float64(want)) {
			t.Errorf("halfToFloat(%#04x) = %g, want %g", h, got, want)
		}
	}
	if !math.IsInf(float64(halfToFloat(0x7c00)), 1) || !math.IsNaN(float64(halfToFloat(0x7e00))) {
		t.Error("inf/NaN")
	}
}

// TFLite's sparse format: a 4×4 matrix in 2×2 blocks, the block rows dense
// and the block columns CSR, values stored block by block.
func TestDensifyBlockSparse(t *testing.T) {
	// Dense:
	//  1 2 0 0
	//  3 4 0 0
	//  0 0 0 0
	//  0 0 5 6   (block (1,1) = [[0,0],[5,6]])
	tn := &Tensor{Name: "w", Shape: []int{4, 4}, Sparsity: &Sparsity{
		TraversalOrder: []int{0, 1, 2, 3}, BlockMap: []int{0, 1},
		Dims: []DimMeta{
			{DenseSize: 2},
			{Sparse: true, Segments: []int{0, 1, 2}, Indices: []int{0, 1}},
			{DenseSize: 2}, {DenseSize: 2},
		}}}
	got, err := densify(tn, &constant{F: []float32{1, 2, 3, 4, 0, 0, 5, 6}})
	if err != nil {
		t.Fatal(err)
	}
	want := []float32{1, 2, 0, 0, 3, 4, 0, 0, 0, 0, 0, 0, 0, 0, 5, 6}
	for i := range want {
		if got.F[i] != want[i] {
			t.Fatalf("densified %v, want %v", got.F, want)
		}
	}
	// Wrong counts are errors, not panics.
	if _, err := densify(tn, &constant{F: []float32{1, 2, 3}}); err == nil {
		t.Error("too few values accepted")
	}
	tn.Sparsity.Dims[1].Segments = []int{0, 5, 9}
	if _, err := densify(tn, &constant{F: make([]float32, 8)}); err == nil {
		t.Error("segments past the indices accepted")
	}
}

// Per-channel int8 weights are dequantised along their quantised axis.
func TestDequantizePerChannel(t *testing.T) {
	tn := &Tensor{Name: "w", Shape: []int{2, 3}, Quant: &Quant{Scale: []float32{0.5, 2}, ZeroPoint: []int64{0, 1}, Axis: 0}}
	got, err := dequantize(tn, &constant{Shape: tn.Shape, Int: true, I: []int64{2, 4, -2, 1, 2, 3}})
	if err != nil {
		t.Fatal(err)
	}
	want := []float32{1, 2, -1, 0, 2, 4}
	for i := range want {
		if got.F[i] != want[i] {
			t.Fatalf("dequantised %v, want %v", got.F, want)
		}
	}
	tn.Quant.Axis = 1
	if _, err := dequantize(tn, &constant{Shape: tn.Shape, Int: true, I: make([]int64, 6)}); err == nil {
		t.Error("2 scales on an axis of 3 accepted")
	}
}

func TestSamePads(t *testing.T) {
	for _, c := range []struct{ in, k, s, d, before, after int }{
		{128, 5, 2, 1, 1, 2}, {64, 3, 1, 1, 1, 1}, {7, 3, 2, 1, 1, 1}, {6, 3, 2, 1, 0, 1}, {5, 1, 1, 1, 0, 0}, {8, 3, 1, 2, 2, 2},
	} {
		b, a := samePads(c.in, c.k, c.s, c.d)
		if b != c.before || a != c.after {
			t.Errorf("samePads(%d,%d,%d,%d) = %d,%d, want %d,%d", c.in, c.k, c.s, c.d, b, a, c.before, c.after)
		}
	}
}

// The converted model's graph is a valid ONNX file that graph.Load reads
// back, with TFLite's input and output names.
func TestConvertedModelNames(t *testing.T) {
	out := convertTo(t, shortPath)
	m, err := graph.Load(out)
	if err != nil {
		t.Fatal(err)
	}
	if g := m.GetGraph(); g.GetInput()[0].GetName() != "input" || g.GetOutput()[0].GetName() != "regressors" || g.GetOutput()[1].GetName() != "classificators" {
		t.Errorf("names: %v -> %v, %v", g.GetInput()[0].GetName(), g.GetOutput()[0].GetName(), g.GetOutput()[1].GetName())
	}
	if graph.Opset(m, "") != Opset {
		t.Errorf("opset %d", graph.Opset(m, ""))
	}
}
