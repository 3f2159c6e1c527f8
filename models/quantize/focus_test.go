package quantize_test

import (
	"math"
	"math/rand/v2"
	"path/filepath"
	"testing"

	"github.com/edgeflow/edgeflow/models"
	"github.com/edgeflow/edgeflow/models/graph"
	"github.com/edgeflow/edgeflow/models/modeltest"
	"github.com/edgeflow/edgeflow/models/onnxpb"
	"github.com/edgeflow/edgeflow/models/quantize"
	"google.golang.org/protobuf/proto"
)

// focusModel builds YOLOX's stem at a small size: x[1,3,H,W] -> the four
// phases x[:, :, di::2, dj::2] by two Slices each, concatenated in YOLOX's
// order (top-left, bottom-left, top-right, bottom-right) -> Conv 12->8
// 3x3 with stride and pads as given. With qdq, every phase and the
// Concat's output pass through a QuantizeLinear -> DequantizeLinear pair
// of scale 1 (as the quantiser leaves them on unnormalised pixels), or of
// scale 1 for the phases and 2 for the Concat when mixed.
func focusModel(h, w int, stride, pad int64, qdq, mixed bool) *onnxpb.ModelProto {
	r := rand.New(rand.NewPCG(7, 19))
	wv := make([]float32, 8*12*3*3)
	for i := range wv {
		wv[i] = float32(r.NormFloat64() * 0.1)
	}
	bv := make([]float32, 8)
	for i := range bv {
		bv[i] = float32(r.NormFloat64())
	}
	inits := []*onnxpb.TensorProto{
		graph.FloatTensor("w", []int64{8, 12, 3, 3}, wv), graph.FloatTensor("b", []int64{8}, bv),
		graph.Int64Tensor("zero", []int64{1}, []int64{0}), graph.Int64Tensor("one", []int64{1}, []int64{1}),
		graph.Int64Tensor("end", []int64{1}, []int64{math.MaxInt64}), graph.Int64Tensor("two", []int64{1}, []int64{2}),
		graph.Int64Tensor("three", []int64{1}, []int64{3}),
		graph.FloatTensor("s1", nil, []float32{1}), graph.FloatTensor("s2", nil, []float32{2}),
		graph.Uint8Tensor("z", nil, []uint8{0}),
	}
	var nodes []*onnxpb.NodeProto
	pair := func(in, scale string) string {
		if !qdq {
			return in
		}
		nodes = append(nodes,
			graph.Node("QuantizeLinear", in+"_q", []string{in, scale, "z"}, []string{in + "_q"}),
			graph.Node("DequantizeLinear", in+"_dq", []string{in + "_q", scale, "z"}, []string{in + "_dq"}))
		return in + "_dq"
	}
	start := map[int]string{0: "zero", 1: "one"}
	var phases []string
	for _, ph := range [][2]int{{0, 0}, {1, 0}, {0, 1}, {1, 1}} {
		rows := "rows" + start[ph[0]] + start[ph[1]]
		cols := "cols" + start[ph[0]] + start[ph[1]]
		nodes = append(nodes,
			graph.Node("Slice", rows, []string{"x", start[ph[0]], "end", "two", "two"}, []string{rows}),
			graph.Node("Slice", cols, []string{rows, start[ph[1]], "end", "three", "two"}, []string{cols}))
		phases = append(phases, pair(cols, "s1"))
	}
	nodes = append(nodes, graph.Node("Concat", "cat", phases, []string{"cat"}, graph.IntAttr("axis", 1)))
	catScale := "s1"
	if mixed {
		catScale = "s2"
	}
	nodes = append(nodes, graph.Node("Conv", "conv", []string{pair("cat", catScale), "w", "b"}, []string{"y"},
		graph.IntsAttr("kernel_shape", 3, 3), graph.IntsAttr("strides", stride, stride), graph.IntsAttr("pads", pad, pad, pad, pad)))
	oh := (int64(h)/2+2*pad-3)/stride + 1
	ow := (int64(w)/2+2*pad-3)/stride + 1
	return &onnxpb.ModelProto{
		IrVersion:   proto.Int64(8),
		OpsetImport: []*onnxpb.OperatorSetIdProto{{Domain: proto.String(""), Version: proto.Int64(13)}},
		Graph: &onnxpb.GraphProto{Name: proto.String("focus"), Node: nodes, Initializer: inits,
			Input:  []*onnxpb.ValueInfoProto{graph.FloatValueInfo("x", 1, 3, int64(h), int64(w))},
			Output: []*onnxpb.ValueInfoProto{graph.FloatValueInfo("y", 1, 8, oh, ow)}},
	}
}

// runOnce runs a model on one input in ONNX Runtime.
func runOnce(t *testing.T, m *onnxpb.ModelProto, in models.Tensor) []float32 {
	t.Helper()
	data, err := graph.Encode(m)
	if err != nil {
		t.Fatal(err)
	}
	s, err := models.NewSession(data, models.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	out, err := s.Run([]models.Tensor{in})
	if err != nil {
		t.Fatal(err)
	}
	return out[0].Data
}

func opCounts(m *onnxpb.ModelProto) map[string]int {
	ops := map[string]int{}
	for _, n := range m.GetGraph().GetNode() {
		ops[n.GetOpType()]++
	}
	return ops
}

func TestFoldFocus(t *testing.T) {
	modeltest.RequireRuntime(t)
	const h, w = 16, 12
	r := rand.New(rand.NewPCG(3, 5))
	x := models.Tensor{Shape: []int64{1, 3, h, w}, Data: make([]float32, 3*h*w)}
	for i := range x.Data {
		x.Data[i] = float32(r.IntN(256)) + float32(r.Float64()) // pixels with fractions, so rounding shows
	}
	for _, c := range []struct {
		name        string
		qdq, mixed  bool
		pairs, fold int
	}{
		{"float", false, false, 0, 1},
		{"with scale-1 pixel pairs", true, false, 1, 1},
		{"pairs with different scales", true, true, 5, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			m := focusModel(h, w, 1, 1, c.qdq, c.mixed)
			want := runOnce(t, m, x)
			folded := graph.Clone(m)
			n, err := quantize.FoldFocus(folded)
			if err != nil {
				t.Fatal(err)
			}
			if n != c.fold {
				t.Fatalf("folded %d stems, want %d", n, c.fold)
			}
			ops := opCounts(folded)
			if c.fold == 0 {
				if ops["Slice"] != 8 || ops["Concat"] != 1 {
					t.Fatalf("a stem it did not fold was changed: %v", ops)
				}
				return
			}
			if ops["Slice"] != 0 || ops["Concat"] != 0 || ops["QuantizeLinear"] != c.pairs || ops["DequantizeLinear"] != c.pairs {
				t.Fatalf("after folding: %v, want no Slice or Concat and %d Q/DQ pair(s)", ops, c.pairs)
			}
			for _, nd := range folded.GetGraph().GetNode() {
				if nd.GetOpType() == "Conv" {
					if k := graph.AttrInts(nd, "kernel_shape"); k[0] != 6 || k[1] != 6 {
						t.Fatalf("kernel %v, want 6x6", k)
					}
				}
			}
			got := runOnce(t, folded, x)
			if len(got) != len(want) {
				t.Fatalf("%d outputs, want %d", len(got), len(want))
			}
			var worst float64
			for i := range got {
				worst = max(worst, math.Abs(float64(got[i]-want[i])))
			}
			if worst > 1e-3 {
				t.Fatalf("folded model differs by up to %g", worst)
			}
		})
	}
	t.Run("strided conv is left alone", func(t *testing.T) {
		m := focusModel(h, w, 2, 1, false, false)
		if n, err := quantize.FoldFocus(m); err != nil || n != 0 {
			t.Fatalf("folded %d (err %v), want 0: a stride-2 conv has no same-maths 6x6 form here", n, err)
		}
	})
}

// TestFoldFocusYOLOX folds the mirror's YOLOX-Nano and checks that the
// result computes the same output on a real image: the matcher must
// recognise the published model's stem, not only the test's.
func TestFoldFocusYOLOX(t *testing.T) {
	modeltest.RequireRuntime(t)
	dir, media := sharedMedia(t)
	m, err := graph.Load(filepath.Join(dir, "yolox_nano.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	x := images(t, media, detectorCases[0], "full")[0].Inputs[0]
	want := runOnce(t, m, x)
	n, err := quantize.FoldFocus(m)
	if err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Fatalf("folded %d stems in YOLOX-Nano, want 1", n)
	}
	if ops := opCounts(m); ops["Slice"] != 0 {
		t.Fatalf("%d Slices left after folding", ops["Slice"])
	}
	got := runOnce(t, m, x)
	var worst float64
	for i := range got {
		worst = max(worst, math.Abs(float64(got[i]-want[i])))
	}
	t.Logf("max abs difference %g over %d outputs", worst, len(got))
	if worst > 1e-2 {
		t.Fatalf("folded YOLOX-Nano differs by up to %g", worst)
	}
}
