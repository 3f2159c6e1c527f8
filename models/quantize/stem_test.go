package quantize_test

import (
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/edgeflow/edgeflow/models"
	"github.com/edgeflow/edgeflow/models/graph"
	"github.com/edgeflow/edgeflow/models/modeltest"
	"github.com/edgeflow/edgeflow/models/onnxpb"
	"github.com/edgeflow/edgeflow/models/quantize"
	"google.golang.org/protobuf/proto"
)

// stemNet is NanoDet's stem in small: x[1,3,16,16] -> Conv 3->8 ->
// LeakyRelu -> MaxPool -> a depthwise Conv and a 1×1 Conv -> Add -> Conv
// -> Relu -> Conv -> y.
func stemNet() *onnxpb.ModelProto {
	r := rand.New(rand.NewPCG(3, 9))
	fill := func(n int, s float64) []float32 { return normalWeights(r, n, s) }
	inits := []*onnxpb.TensorProto{
		graph.FloatTensor("w0", []int64{8, 3, 3, 3}, fill(216, 0.3)), graph.FloatTensor("b0", []int64{8}, fill(8, 0.1)),
		graph.FloatTensor("wd", []int64{8, 1, 3, 3}, fill(72, 0.3)), graph.FloatTensor("bd", []int64{8}, fill(8, 0.1)),
		graph.FloatTensor("wp", []int64{8, 8, 1, 1}, fill(64, 0.3)), graph.FloatTensor("bp", []int64{8}, fill(8, 0.1)),
		graph.FloatTensor("w1", []int64{8, 8, 1, 1}, fill(64, 0.3)), graph.FloatTensor("b1", []int64{8}, fill(8, 0.1)),
		graph.FloatTensor("w2", []int64{8, 8, 1, 1}, fill(64, 0.3)), graph.FloatTensor("b2", []int64{8}, fill(8, 0.1)),
	}
	nodes := []*onnxpb.NodeProto{
		graph.Node("Conv", "stem", []string{"x", "w0", "b0"}, []string{"c0"}, graph.IntsAttr("pads", 1, 1, 1, 1)),
		graph.Node("LeakyRelu", "act", []string{"c0"}, []string{"a0"}, graph.FloatAttr("alpha", 0.1)),
		graph.Node("MaxPool", "pool", []string{"a0"}, []string{"p0"}, graph.IntsAttr("kernel_shape", 2, 2), graph.IntsAttr("strides", 2, 2)),
		graph.Node("Conv", "dw", []string{"p0", "wd", "bd"}, []string{"d"}, graph.IntAttr("group", 8), graph.IntsAttr("pads", 1, 1, 1, 1)),
		graph.Node("Conv", "pw", []string{"p0", "wp", "bp"}, []string{"p"}),
		graph.Node("Add", "join", []string{"d", "p"}, []string{"s"}),
		graph.Node("Conv", "c1", []string{"s", "w1", "b1"}, []string{"c1"}),
		graph.Node("Relu", "r1", []string{"c1"}, []string{"r1"}),
		graph.Node("Conv", "c2", []string{"r1", "w2", "b2"}, []string{"y"}),
	}
	return &onnxpb.ModelProto{
		IrVersion:   proto.Int64(8),
		OpsetImport: []*onnxpb.OperatorSetIdProto{{Domain: proto.String(""), Version: proto.Int64(13)}},
		Graph: &onnxpb.GraphProto{Name: proto.String("stem"), Node: nodes, Initializer: inits,
			Input:  []*onnxpb.ValueInfoProto{graph.FloatValueInfo("x", 1, 3, 16, 16)},
			Output: []*onnxpb.ValueInfoProto{graph.FloatValueInfo("y", 1, 8, 8, 8)}},
	}
}

// TestFloatStem: Options.FloatStem keeps float the Conv reading the
// image, the LeakyRelu and MaxPool after it and both Convs reading the
// MaxPool, so that neither the image nor the stem's output is rounded;
// the Convs after them are still quantised.
func TestFloatStem(t *testing.T) {
	modeltest.RequireRuntime(t)
	r := rand.New(rand.NewPCG(4, 4))
	var samples [][]models.Tensor
	for range 4 {
		v := make([]float32, 3*16*16)
		for i := range v {
			v[i] = float32(r.NormFloat64())
		}
		samples = append(samples, []models.Tensor{{Shape: []int64{1, 3, 16, 16}, Data: v}})
	}
	stemKept := func(rep *quantize.Report) []string {
		var out []string
		for _, s := range rep.Skipped {
			if strings.HasSuffix(s, "stem kept float") {
				out = append(out, s)
			}
		}
		return out
	}
	q, rep, err := quantize.Static(stemNet(), quantize.FromSamples(samples), quantize.Options{FloatStem: true, MaxStep: -1})
	if err != nil {
		t.Fatal(err)
	}
	if got := stemKept(rep); len(got) != 5 {
		t.Errorf("stem kept float: %q, want stem, act, pool, dw, pw", got)
	}
	for _, s := range rep.Skipped {
		if strings.HasSuffix(s, ": excluded") {
			t.Errorf("a stem node reported twice: %q", s)
		}
	}
	if rep.Quantized["Conv"] != 1 || rep.Quantized["Add"] != 1 {
		t.Errorf("quantised %v, want the Add and Conv c1 (c2 writes the float output)", rep.Quantized)
	}
	for _, n := range q.GetGraph().GetNode() {
		for _, in := range n.GetInput() {
			if n.GetOpType() == "QuantizeLinear" && (in == "x" || strings.HasPrefix(in, "p0") || strings.HasPrefix(in, "c0") || strings.HasPrefix(in, "a0")) {
				t.Errorf("the stem's tensor %q is quantised", in)
			}
		}
	}
	_, rep, err = quantize.Static(stemNet(), quantize.FromSamples(samples), quantize.Options{MaxStep: -1})
	if err != nil {
		t.Fatal(err)
	}
	if got := stemKept(rep); len(got) != 0 || rep.Quantized["Conv"] < 3 {
		t.Errorf("without FloatStem: stem kept float %q, quantised %v", got, rep.Quantized)
	}
}

// TestFloatStemMalformed: a Conv on the image that has no output is bad
// input: the quantiser names it and does not panic (it used to, indexing
// the missing output).
func TestFloatStemMalformed(t *testing.T) {
	m := stemNet()
	g := m.GetGraph()
	g.Node = append(g.Node, graph.Node("Conv", "dangling", []string{"x", "w0", "b0"}, nil))
	samples := [][]models.Tensor{{{Shape: []int64{1, 3, 16, 16}, Data: make([]float32, 3*16*16)}}}
	_, _, err := quantize.Static(m, quantize.FromSamples(samples), quantize.Options{FloatStem: true})
	if err == nil || !strings.Contains(err.Error(), `"dangling" (Conv) has no outputs`) {
		t.Fatalf("a Conv without outputs: %v, want an error naming it", err)
	}
}
