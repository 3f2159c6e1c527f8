package quantize

import (
	"slices"
	"strings"
	"testing"

	"github.com/edgeflow/edgeflow/models/graph"
	"github.com/edgeflow/edgeflow/models/modeltest"
	"github.com/edgeflow/edgeflow/models/onnxpb"
)

// mlpWith is modeltest's MLP (Gemm w1, MatMul w2) with extra initializers
// and nodes appended.
func mlpWith(t *testing.T, inits []*onnxpb.TensorProto, nodes ...*onnxpb.NodeProto) *onnxpb.ModelProto {
	t.Helper()
	m := (&modeltest.MLP{In: 4, Hidden: 3, Out: 2, Seed: 1}).Proto()
	g := m.GetGraph()
	g.Initializer = append(g.Initializer, inits...)
	g.Node = append(g.Node, nodes...)
	return m
}

// TestEmptyWeightsAreLeftAlone: a Gemm whose weight holds no values but
// claims a huge dimension ([2^24, 0]) is left float in every mode. Dynamic
// and WeightOnly used to quantise it, allocating a scale per claimed
// channel (a [2^31, 0] weight asks for 8 GB),
// and Static planned it.
func TestEmptyWeightsAreLeftAlone(t *testing.T) {
	newModel := func() *onnxpb.ModelProto {
		return mlpWith(t, []*onnxpb.TensorProto{graph.FloatTensor("wz", []int64{1 << 24, 0}, nil)},
			graph.Node("Gemm", "odd", []string{"x", "wz"}, []string{"zz"}, graph.IntAttr("transB", 1)))
	}
	for _, mode := range []string{"dynamic", "weight-only"} {
		r := &Report{Mode: mode}
		var err error
		if mode == "dynamic" {
			_, err = dynamic(newModel(), &Options{}, r)
		} else {
			_, err = weightOnly(newModel(), &Options{}, r)
		}
		if err != nil {
			t.Fatalf("%s: %v", mode, err)
		}
		if r.Quantized["Gemm"] != 1 {
			t.Errorf("%s quantised %d Gemms, want 1 (the MLP's, not the empty one)", mode, r.Quantized["Gemm"])
		}
	}
	r := &Report{Mode: "static"}
	q, err := planStatic(newModel(), &Options{}, r)
	if err != nil {
		t.Fatal(err)
	}
	if slices.ContainsFunc(q.nodes, func(n *onnxpb.NodeProto) bool { return n.GetName() == "odd" }) {
		t.Error("static plans to quantise the Gemm with an empty weight")
	}
	if !slices.ContainsFunc(r.Skipped, func(s string) bool { return strings.Contains(s, `"odd"`) }) {
		t.Errorf("static does not say why it skipped the empty Gemm: %q", r.Skipped)
	}
}

// TestBatchNormAfterAConvWithoutChannels: folding a BatchNormalization
// into a Conv whose weight has no output channels ([0, 3, 1, 1], and BN
// parameters of length 0 to match) is skipped; it used to divide by the
// channel count, 0.
func TestBatchNormAfterAConvWithoutChannels(t *testing.T) {
	empty := func(name string) *onnxpb.TensorProto { return graph.FloatTensor(name, []int64{0}, nil) }
	g := &onnxpb.GraphProto{
		Node: []*onnxpb.NodeProto{
			graph.Node("Conv", "c", []string{"x", "w"}, []string{"t"}),
			graph.Node("BatchNormalization", "bn", []string{"t", "s", "b", "m", "v"}, []string{"y"}),
		},
		Initializer: []*onnxpb.TensorProto{graph.FloatTensor("w", []int64{0, 3, 1, 1}, nil), empty("s"), empty("b"), empty("m"), empty("v")},
		Input:       []*onnxpb.ValueInfoProto{graph.FloatValueInfo("x", 1, 3, 4, 4)},
		Output:      []*onnxpb.ValueInfoProto{graph.FloatValueInfo("y", 1, 0, 4, 4)},
	}
	if n := foldBatchNorm(g); n != 0 {
		t.Errorf("folded %d BatchNormalizations into a Conv without output channels", n)
	}
}

// TestUpgradeRefusesNodesWithoutInputOrOutput: the opset upgrade rewrites
// Softmax and Dropout from their first input and output; a node without
// them is an error, not a panic (both used to index them: Dropout sliced
// its empty input list, Softmax read input 0). Upgrade is exported, so
// it cannot count on prepare's sort having refused a node without
// outputs.
func TestUpgradeRefusesNodesWithoutInputOrOutput(t *testing.T) {
	for _, n := range []*onnxpb.NodeProto{
		graph.Node("Dropout", "d", nil, []string{"zz"}),
		graph.Node("Softmax", "s", nil, []string{"zz"}),
		graph.Node("LogSoftmax", "ls", []string{"x"}, nil),
		graph.Node("Dropout", "d2", []string{"x"}, nil),
	} {
		m := mlpWith(t, nil, n)
		graph.SetOpset(m, "", 9)
		if _, err := Upgrade(m, 13); err == nil {
			t.Errorf("%s with inputs %q and outputs %q was upgraded", n.GetOpType(), n.GetInput(), n.GetOutput())
		}
	}
}

// TestFoldFocusMalformed: FoldFocus is exported and reads the stem's
// nodes; a Conv with one input or a DequantizeLinear without inputs
// where it expects them leaves the model as it is instead of panicking
// (the Conv's weight used to be read unchecked).
func TestFoldFocusMalformed(t *testing.T) {
	if n, err := FoldFocus(fuzzFocusNet()); n != 1 || err != nil {
		t.Fatalf("the well-formed stem: folded %d, %v", n, err)
	}
	m := fuzzFocusNet()
	for _, n := range m.GetGraph().GetNode() {
		if n.GetOpType() == "Conv" {
			n.Input = n.Input[:1]
		}
	}
	if n, err := FoldFocus(m); n != 0 || err != nil {
		t.Errorf("a Conv with one input: folded %d, %v", n, err)
	}
	m = fuzzFocusNet()
	g := m.GetGraph()
	g.Node = append(g.Node, graph.Node("DequantizeLinear", "dq", nil, []string{"cols00_dq"}))
	for _, n := range g.GetNode() {
		if n.GetOpType() == "Concat" {
			n.Input[0] = "cols00_dq"
		}
	}
	if n, err := FoldFocus(m); n != 0 || err != nil {
		t.Errorf("a DequantizeLinear without inputs: folded %d, %v", n, err)
	}
}
