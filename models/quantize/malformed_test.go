package quantize_test

import (
	"errors"
	"math"
	"slices"
	"testing"

	"github.com/edgeflow/edgeflow/models"
	"github.com/edgeflow/edgeflow/models/graph"
	"github.com/edgeflow/edgeflow/models/modeltest"
	"github.com/edgeflow/edgeflow/models/quantize"
)

// TestMalformedNodesAreRefused: a node with fewer inputs than its operator
// takes makes Static fail with an error, never panic (a Gemm with one
// input and a MaxPool with none used to index inputs they lack).
func TestMalformedNodesAreRefused(t *testing.T) {
	modeltest.RequireRuntime(t)
	samples := [][]models.Tensor{{{Shape: []int64{1, 3, 16, 16}, Data: make([]float32, 3*16*16)}}}
	for _, tc := range []struct {
		op  string
		ins []string
	}{
		{"Gemm", []string{"p0"}}, {"MaxPool", nil}, {"Conv", []string{"p0"}}, {"Add", []string{"p0"}},
		{"Concat", nil}, {"MatMul", []string{"p0"}}, {"AveragePool", nil}, {"Split", nil},
	} {
		t.Run(tc.op, func(t *testing.T) {
			m := stemNet()
			g := m.GetGraph()
			g.Node = append(g.Node, graph.Node(tc.op, "odd", tc.ins, []string{"zz"}))
			ops := append(slices.Clone(quantize.DefaultOps), quantize.MoveOps...)
			if _, _, err := quantize.Static(m, quantize.FromSamples(samples), quantize.Options{Ops: ops}); err == nil {
				t.Fatalf("%s with inputs %q was quantised", tc.op, tc.ins)
			}
		})
	}
}

// TestDynamicMalformedMatMul: dynamic quantisation skips a MatMul or Gemm
// that lacks its weight input instead of indexing it (it used to panic).
func TestDynamicMalformedMatMul(t *testing.T) {
	for _, op := range []string{"MatMul", "Gemm"} {
		m := stemNet()
		g := m.GetGraph()
		g.Node = append(g.Node, graph.Node(op, "odd", []string{"p0"}, []string{"zz"}))
		_, rep, err := quantize.Dynamic(m, quantize.Options{Ops: []string{"MatMul", "Gemm"}})
		if err == nil && rep.Quantized[op] > 0 {
			t.Errorf("%s with one input was quantised", op)
		}
	}
}

// TestNonFiniteWeightsAreRefused: a weight holding NaN or an infinity is
// refused with ErrNotQuantizable in every mode (it used to get a NaN or
// infinite int8 scale, and the quantised model computed NaN;
// testdata/fuzz/FuzzQuantize/1358e125a4b5b497).
func TestNonFiniteWeightsAreRefused(t *testing.T) {
	for _, v := range []float32{float32(math.NaN()), float32(math.Inf(-1))} {
		for _, mode := range []string{"dynamic", "weight-only", "static"} {
			m := sensorMLP(4, 3, 3, 1)
			w := m.GetGraph().GetInitializer()[0] // the first Gemm's weight
			data, err := graph.Floats(w)
			if err != nil {
				t.Fatal(err)
			}
			data[1] = v
			m.GetGraph().Initializer[0] = graph.FloatTensor(w.GetName(), w.GetDims(), data)
			switch mode {
			case "dynamic":
				_, _, err = quantize.Dynamic(m, quantize.Options{})
			case "weight-only":
				_, _, err = quantize.WeightOnly(m, quantize.Options{})
			default:
				modeltest.RequireRuntime(t)
				_, _, err = quantize.Static(m, quantize.FromVectors(sensorData(2, 4, 1)), quantize.Options{})
			}
			if !errors.Is(err, quantize.ErrNotQuantizable) {
				t.Errorf("%s with a weight holding %v: %v, want ErrNotQuantizable", mode, v, err)
			}
		}
	}
}
