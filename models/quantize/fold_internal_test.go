package quantize

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/edgeflow/edgeflow/models"
	"github.com/edgeflow/edgeflow/models/graph"
	"github.com/edgeflow/edgeflow/models/modeltest"
	"github.com/edgeflow/edgeflow/models/onnxpb"
	"google.golang.org/protobuf/proto"
)

// convBN is x[1,4,16,16] -> Conv(8, 3x3, bias) -> BatchNormalization ->
// Relu -> y, plus a large float constant added to y (an anchor table).
func convBN(seed uint64) *onnxpb.ModelProto {
	r := rand.New(rand.NewPCG(seed, 1))
	fill := func(n int, lo, hi float64) []float32 {
		v := make([]float32, n)
		for i := range v {
			v[i] = float32(lo + (hi-lo)*r.Float64())
		}
		return v
	}
	inits := []*onnxpb.TensorProto{
		graph.FloatTensor("w", []int64{8, 4, 3, 3}, fill(8*4*9, -0.5, 0.5)),
		graph.FloatTensor("b", []int64{8}, fill(8, -0.2, 0.2)),
		graph.FloatTensor("gamma", []int64{8}, fill(8, 0.5, 2)),
		graph.FloatTensor("beta", []int64{8}, fill(8, -1, 1)),
		graph.FloatTensor("mean", []int64{8}, fill(8, -0.3, 0.3)),
		graph.FloatTensor("var", []int64{8}, fill(8, 0.1, 3)),
		graph.FloatTensor("anchors", []int64{1, 8, 16, 16}, fill(2048, -300, 300)),
	}
	nodes := []*onnxpb.NodeProto{
		graph.Node("Conv", "conv", []string{"x", "w", "b"}, []string{"c"}, graph.IntsAttr("pads", 1, 1, 1, 1)),
		graph.Node("BatchNormalization", "bn", []string{"c", "gamma", "beta", "mean", "var"}, []string{"n"}, graph.FloatAttr("epsilon", 1e-3)),
		graph.Node("Relu", "relu", []string{"n"}, []string{"r"}),
		graph.Node("Add", "add", []string{"r", "anchors"}, []string{"y"}),
	}
	return &onnxpb.ModelProto{
		IrVersion:   proto.Int64(8),
		OpsetImport: []*onnxpb.OperatorSetIdProto{{Domain: proto.String(""), Version: proto.Int64(13)}},
		Graph: &onnxpb.GraphProto{Name: proto.String("convbn"), Node: nodes, Initializer: inits,
			Input:  []*onnxpb.ValueInfoProto{graph.FloatValueInfo("x", 1, 4, 16, 16)},
			Output: []*onnxpb.ValueInfoProto{graph.FloatValueInfo("y", 1, 8, 16, 16)}},
	}
}

func runModel(t *testing.T, m *onnxpb.ModelProto, x []float32) []float32 {
	t.Helper()
	data, err := graph.Encode(m)
	if err != nil {
		t.Fatal(err)
	}
	// Optimisations off: ORT must not fold anything itself.
	s, err := models.NewSession(data, models.Options{Optimization: "disable"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	out, err := s.Run([]models.Tensor{{Shape: []int64{1, 4, 16, 16}, Data: x}})
	if err != nil {
		t.Fatal(err)
	}
	return out[0].Data
}

// TestFoldAndHalf: folding BatchNormalization into the Conv and storing
// the large constant as float16 leave the outputs as they were (within
// float16's rounding of the anchors), and remove the BN node.
func TestFoldAndHalf(t *testing.T) {
	modeltest.RequireRuntime(t)
	m := convBN(3)
	x := make([]float32, 4*16*16)
	for i := range x {
		x[i] = float32(math.Sin(float64(i)))
	}
	want := runModel(t, m, x)
	f := graph.Clone(m)
	if n := foldBatchNorm(f.GetGraph()); n != 1 {
		t.Fatalf("folded %d BatchNormalization nodes, want 1", n)
	}
	if n := halfFloats(f.GetGraph()); n != 1 {
		t.Fatalf("converted %d constants to float16, want 1 (the anchors; the weight has 288 values)", n)
	}
	for _, n := range f.GetGraph().GetNode() {
		if n.GetOpType() == "BatchNormalization" {
			t.Fatal("BatchNormalization still in the graph")
		}
	}
	got := runModel(t, f, x)
	for i := range want {
		if d := math.Abs(float64(got[i] - want[i])); d > 1e-3*max(1, math.Abs(float64(want[i]))) {
			t.Fatalf("output %d: %g after folding, %g before", i, got[i], want[i])
		}
	}
}

func TestFloat16Bits(t *testing.T) {
	for _, tc := range []struct {
		in   float32
		want uint16
	}{
		{0, 0}, {1, 0x3c00}, {-2, 0xc000}, {0.5, 0x3800}, {65504, 0x7bff}, {1e-8, 0},
		{float32(math.Ldexp(1, -24)), 0x0001}, {float32(math.Ldexp(1, -14)), 0x0400},
		{1 + 1.0/2048, 0x3c00}, {1 + 3.0/2048, 0x3c02}, {0.1, 0x2e66},
	} {
		if got := float16Bits(tc.in); got != tc.want {
			t.Errorf("float16Bits(%g) = %#04x, want %#04x", tc.in, got, tc.want)
		}
	}
}
