package quantize_test

import (
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/edgeflow/edgeflow/models"
	"github.com/edgeflow/edgeflow/models/compare"
	"github.com/edgeflow/edgeflow/models/graph"
	"github.com/edgeflow/edgeflow/models/modeltest"
	"github.com/edgeflow/edgeflow/models/onnxpb"
	"github.com/edgeflow/edgeflow/models/quantize"
	"google.golang.org/protobuf/proto"
)

// shuffleNet builds a ShuffleNet-style block (NanoDet's backbone) in Go:
// x[1,4,8,8] -> Conv 4->8 -> Relu -> channel shuffle (Reshape [1,2,4,8,8],
// Transpose, Reshape [1,8,8,8]) -> Split into two halves -> a Conv on each
// -> Add -> y.
func shuffleNet(seed uint64) *onnxpb.ModelProto {
	r := rand.New(rand.NewPCG(seed, 5))
	fill := func(n int, s float64) []float32 { return normalWeights(r, n, s) }
	inits := []*onnxpb.TensorProto{
		graph.FloatTensor("w0", []int64{8, 4, 1, 1}, fill(32, 0.7)), graph.FloatTensor("b0", []int64{8}, fill(8, 0.1)),
		graph.FloatTensor("w1", []int64{4, 4, 1, 1}, fill(16, 0.7)), graph.FloatTensor("b1", []int64{4}, fill(4, 0.1)),
		graph.FloatTensor("w2", []int64{4, 4, 1, 1}, fill(16, 0.7)), graph.FloatTensor("b2", []int64{4}, fill(4, 0.1)),
		graph.Int64Tensor("s5", []int64{5}, []int64{1, 2, 4, 8, 8}),
		graph.Int64Tensor("s4", []int64{4}, []int64{1, 8, 8, 8}),
		graph.Int64Tensor("halves", []int64{2}, []int64{4, 4}),
	}
	nodes := []*onnxpb.NodeProto{
		graph.Node("Conv", "conv0", []string{"x", "w0", "b0"}, []string{"c0"}),
		graph.Node("Relu", "relu0", []string{"c0"}, []string{"r0"}),
		graph.Node("Reshape", "groups", []string{"r0", "s5"}, []string{"g"}),
		graph.Node("Transpose", "shuffle", []string{"g"}, []string{"t"}, graph.IntsAttr("perm", 0, 2, 1, 3, 4)),
		graph.Node("Reshape", "flat", []string{"t", "s4"}, []string{"f"}),
		graph.Node("Split", "split", []string{"f", "halves"}, []string{"h1", "h2"}, graph.IntAttr("axis", 1)),
		graph.Node("Conv", "conv1", []string{"h1", "w1", "b1"}, []string{"c1"}),
		graph.Node("Conv", "conv2", []string{"h2", "w2", "b2"}, []string{"c2"}),
		graph.Node("Add", "join", []string{"c1", "c2"}, []string{"y"}),
	}
	return &onnxpb.ModelProto{
		IrVersion:   proto.Int64(8),
		OpsetImport: []*onnxpb.OperatorSetIdProto{{Domain: proto.String(""), Version: proto.Int64(13)}},
		Graph: &onnxpb.GraphProto{Name: proto.String("shuffle"), Node: nodes, Initializer: inits,
			Input:  []*onnxpb.ValueInfoProto{graph.FloatValueInfo("x", 1, 4, 8, 8)},
			Output: []*onnxpb.ValueInfoProto{graph.FloatValueInfo("y", 1, 4, 8, 8)}},
	}
}

func shuffleSamples(n int, seed uint64) []compare.Sample {
	r := rand.New(rand.NewPCG(seed, 7))
	out := make([]compare.Sample, n)
	for i := range out {
		v := make([]float32, 4*8*8)
		for j := range v {
			v[j] = float32(r.NormFloat64())
		}
		out[i] = compare.Sample{Name: "x", Inputs: []models.Tensor{{Shape: []int64{1, 4, 8, 8}, Data: v}}}
	}
	return out
}

// TestMoveOpsRunOnUint8: with quantize.MoveOps, a channel shuffle and
// split between int8 convolutions share the parameters of the tensor they
// move, so ORT runs them on the uint8 data: no float Split and no
// QuantizeLinear inside the graph (only the input's), where without them
// the shuffle runs float between a DequantizeLinear and a QuantizeLinear
// per Conv input. The output stays as close to fp32 either way (the
// shuffle only moves values, so sharing parameters adds no rounding).
func TestMoveOpsRunOnUint8(t *testing.T) {
	modeltest.RequireRuntime(t)
	m := shuffleNet(1)
	calib := shuffleSamples(16, 2)
	test := shuffleSamples(8, 3)
	fp32 := writeModel(t, m, "fp32.onnx")
	run := func(ops []string) (map[string]int, float64) {
		var in [][]models.Tensor
		for _, s := range calib {
			in = append(in, s.Inputs)
		}
		q, rep, err := quantize.Static(graph.Clone(m), quantize.FromSamples(in), quantize.Options{Ops: ops, MaxStep: -1})
		if err != nil {
			t.Fatal(err)
		}
		res, err := compare.Files(fp32, writeModel(t, q, "q.onnx"), test, compare.Options{Task: compare.None})
		if err != nil {
			t.Fatal(err)
		}
		ops2 := optimizedOps(t, q)
		t.Log(rep, ops2, "rel RMSE", res.RelRMSE)
		return ops2, res.RelRMSE
	}
	plain, errPlain := run(quantize.DefaultOps)
	moved, errMoved := run(append(slices.Clone(quantize.DefaultOps), quantize.MoveOps...))
	// Without MoveOps: the input's QuantizeLinear and one per half of the
	// split, after the float shuffle.
	if plain["QLinearConv"] != 3 || plain["QuantizeLinear"] != 3 {
		t.Errorf("without MoveOps ORT ran %v: want 3 QLinearConv and 3 QuantizeLinear (the input, both halves of the float split)", plain)
	}
	// With them: only the input is quantised; the float Add that makes
	// the graph output dequantises both convolutions.
	if moved["QLinearConv"] != 3 || moved["QuantizeLinear"] != 1 || moved["DequantizeLinear"] != 2 {
		t.Errorf("with MoveOps ORT ran %v: want 3 QLinearConv, 1 QuantizeLinear (the input) and 2 DequantizeLinear (into the output's float Add)", moved)
	}
	for _, e := range []float64{errPlain, errMoved} {
		if !(e > 0 && e < 0.05) {
			t.Errorf("rel RMSE %.2f%% (plain %.2f%%, moved %.2f%%), want above 0 and below 5%%", 100*e, 100*errPlain, 100*errMoved)
		}
	}
}
