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

// nhwc is a tensor in TFLite's layout for the Go references below.
type nhwc struct {
	h, w, c int
	v       []float32
}

func (t nhwc) at(y, x, ch int) float32 { return t.v[(y*t.w+x)*t.c+ch] }

// depthToSpace is TensorFlow's: output (y·b+i, x·b+j, c) = input (y, x,
// (i·b+j)·C' + c).
func depthToSpace(t nhwc, b int) nhwc {
	co := t.c / (b * b)
	out := nhwc{t.h * b, t.w * b, co, make([]float32, t.h*b*t.w*b*co)}
	for y := range out.h {
		for x := range out.w {
			for c := range co {
				out.v[(y*out.w+x)*co+c] = t.at(y/b, x/b, ((y%b)*b+x%b)*co+c)
			}
		}
	}
	return out
}

// resizeHalfPixel is TFLite's RESIZE_BILINEAR with half_pixel_centers.
func resizeHalfPixel(t nhwc, oh, ow int) nhwc {
	out := nhwc{oh, ow, t.c, make([]float32, oh*ow*t.c)}
	coord := func(o, in, outN int) (int, int, float32) {
		f := (float64(o)+0.5)*float64(in)/float64(outN) - 0.5
		fl := math.Floor(f)
		lo, hi := max(int(fl), 0), min(int(math.Ceil(f)), in-1)
		return lo, hi, float32(f - fl)
	}
	for y := range oh {
		y0, y1, fy := coord(y, t.h, oh)
		for x := range ow {
			x0, x1, fx := coord(x, t.w, ow)
			for c := range t.c {
				top := t.at(y0, x0, c)*(1-fx) + t.at(y0, x1, c)*fx
				bot := t.at(y1, x0, c)*(1-fx) + t.at(y1, x1, c)*fx
				out.v[(y*ow+x)*t.c+c] = top*(1-fy) + bot*fy
			}
		}
	}
	return out
}

// pad adds rows on top and columns on the right (zeros).
func padTopRight(t nhwc, top, right int) nhwc {
	out := nhwc{t.h + top, t.w + right, t.c, make([]float32, (t.h+top)*(t.w+right)*t.c)}
	for y := range t.h {
		for x := range t.w {
			copy(out.v[((y+top)*out.w+x)*t.c:][:t.c], t.v[(y*t.w+x)*t.c:][:t.c])
		}
	}
	return out
}

// maxPoolSame is TFLite's MAX_POOL_2D with SAME padding.
func maxPoolSame(t nhwc, k, s int) nhwc {
	oh, ow := (t.h+s-1)/s, (t.w+s-1)/s
	pt := max((oh-1)*s+k-t.h, 0) / 2
	pl := max((ow-1)*s+k-t.w, 0) / 2
	out := nhwc{oh, ow, t.c, make([]float32, oh*ow*t.c)}
	for y := range oh {
		for x := range ow {
			for c := range t.c {
				m := float32(math.Inf(-1))
				for i := range k {
					for j := range k {
						iy, ix := y*s+i-pt, x*s+j-pl
						if iy >= 0 && ix >= 0 && iy < t.h && ix < t.w {
							m = max(m, t.at(iy, ix, c))
						}
					}
				}
				out.v[(y*ow+x)*t.c+c] = m
			}
		}
	}
	return out
}

// The operators the full-range models add — DEPTH_TO_SPACE, RESIZE_BILINEAR
// with half-pixel centres — and an asymmetric PAD and a SAME MAX_POOL on
// odd sizes, against Go references in TFLite's terms. The graph output is
// rank 4, so it is transposed back to NHWC.
func TestConvertSpatialOpsAgainstReference(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	x := nhwc{3, 3, 8, make([]float32, 3*3*8)}
	for i := range x.v {
		x.v[i] = float32(r.NormFloat64())
	}
	m := tModel{
		tensors: []tTensor{
			{name: "x", shape: []int32{1, 3, 3, 8}, typ: schema.TensorTypeFLOAT32},
			{name: "d2s", shape: []int32{1, 6, 6, 2}, typ: schema.TensorTypeFLOAT32},
			{name: "size", shape: []int32{2}, typ: schema.TensorTypeINT32, data: i32bytes(12, 12)},
			{name: "up", shape: []int32{1, 12, 12, 2}, typ: schema.TensorTypeFLOAT32},
			{name: "paddings", shape: []int32{4, 2}, typ: schema.TensorTypeINT32, data: i32bytes(0, 0, 1, 0, 0, 1, 0, 0)},
			{name: "padded", shape: []int32{1, 13, 13, 2}, typ: schema.TensorTypeFLOAT32},
			{name: "pooled", shape: []int32{1, 5, 5, 2}, typ: schema.TensorTypeFLOAT32},
		},
		ops: []tOp{
			{code: schema.BuiltinOperatorDEPTH_TO_SPACE, in: []int32{0}, out: []int32{1}, opts: d2sOpts(2)},
			{code: schema.BuiltinOperatorRESIZE_BILINEAR, in: []int32{1, 2}, out: []int32{3}, opts: resizeOpts(true)},
			{code: schema.BuiltinOperatorPAD, in: []int32{3, 4}, out: []int32{5}},
			{code: schema.BuiltinOperatorMAX_POOL_2D, in: []int32{5}, out: []int32{6}, opts: poolOpts(schema.PaddingSAME, 3, 3)},
		},
		in: []int32{0}, out: []int32{6},
	}
	dir := t.TempDir()
	in, out := filepath.Join(dir, "m.tflite"), filepath.Join(dir, "m.onnx")
	if err := os.WriteFile(in, m.bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ConvertFile(in, out); err != nil {
		t.Fatal(err)
	}
	got, err := session(t, out).Run([]models.Tensor{{Shape: []int64{1, 3, 3, 8}, Data: x.v}})
	if err != nil {
		t.Fatal(err)
	}
	want := maxPoolSame(padTopRight(resizeHalfPixel(depthToSpace(x, 2), 12, 12), 1, 1), 3, 3)
	if sh := got[0].Shape; len(sh) != 4 || sh[1] != 5 || sh[2] != 5 || sh[3] != 2 {
		t.Fatalf("output shape %v, want [1 5 5 2]", sh)
	}
	for i := range want.v {
		if math.Abs(float64(got[0].Data[i]-want.v[i])) > 1e-5 {
			t.Fatalf("value %d: got %g, want %g", i, got[0].Data[i], want.v[i])
		}
	}
}
