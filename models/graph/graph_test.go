package graph_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/edgeflow/edgeflow/models"
	"github.com/edgeflow/edgeflow/models/graph"
	"github.com/edgeflow/edgeflow/models/modeltest"
	"github.com/edgeflow/edgeflow/models/onnxpb"
	"google.golang.org/protobuf/proto"
)

// TestRoundTrip loads and saves every model in the mirror and checks that
// ORT gives identical outputs for the copy.
func TestRoundTrip(t *testing.T) {
	modeltest.RequireRuntime(t)
	dir := modeltest.SharedModels()
	if dir == "" {
		t.Skip("skipping: no model mirror")
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*.onnx"))
	if len(files) < 4 {
		t.Fatalf("mirror has %d models", len(files))
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			m, err := graph.Load(f)
			if err != nil {
				t.Fatal(err)
			}
			if err := graph.TopoSort(m.GetGraph()); err != nil {
				t.Fatal(err)
			}
			out := filepath.Join(t.TempDir(), "copy.onnx")
			if err := graph.Save(out, m); err != nil {
				t.Fatal(err)
			}
			a, b := run(t, f), run(t, out)
			for i := range a {
				if !slices.Equal(a[i].Data, b[i].Data) {
					t.Fatalf("output %d differs after the round trip", i)
				}
			}
		})
	}
}

func run(t *testing.T, path string) []models.Tensor {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s, err := models.NewSession(data, models.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	in := s.Info().Inputs[0]
	shape := slices.Clone(in.Shape)
	x := make([]float32, models.Elements(shape))
	for i := range x {
		x[i] = float32(i%251) / 251
	}
	outs, err := s.Run([]models.Tensor{{Shape: shape, Data: x}})
	if err != nil {
		t.Fatal(err)
	}
	return outs
}

// mlpGraph is the graph of a small MLP: x -> Gemm -> h -> Relu -> MatMul -> Add -> y.
func mlpGraph(t *testing.T) *onnxpb.GraphProto {
	t.Helper()
	return (&modeltest.MLP{In: 4, Hidden: 8, Out: 2, Seed: 1}).Proto().GetGraph()
}

func TestTopoSortAndIndex(t *testing.T) {
	g := mlpGraph(t)
	slices.Reverse(g.Node)
	if err := graph.TopoSort(g); err != nil {
		t.Fatal(err)
	}
	var ops []string
	for _, n := range g.Node {
		ops = append(ops, n.GetOpType())
	}
	if !slices.Equal(ops, []string{"Gemm", "Relu", "MatMul", "Add"}) {
		t.Fatalf("order %v", ops)
	}
	ix := graph.NewIndex(g)
	if ix.Producer("h").GetOpType() != "Gemm" || len(ix.Consumers("h")) != 1 || ix.Initializer("w1") == nil || !ix.IsGraphOutput("y") || !ix.IsGraphInput("x") {
		t.Fatal("index answers wrong")
	}
	g.Node[1].Input[0] = "missing"
	if err := graph.TopoSort(g); err == nil {
		t.Fatal("a dangling input was accepted")
	}
}

// TestTopoSortRefusesTwoProducers: a tensor written twice (by two nodes,
// or by a node over a graph input or an initializer) is refused, naming
// it; the index would otherwise keep one producer and lose the other.
func TestTopoSortRefusesTwoProducers(t *testing.T) {
	for _, c := range []struct{ name, output, want string }{
		{"two nodes", "h", `"h" is the output of two nodes`},
		{"over a graph input", "x", `writes "x", which is already a graph input or initializer`},
		{"over an initializer", "w1", `writes "w1", which is already a graph input or initializer`},
	} {
		t.Run(c.name, func(t *testing.T) {
			g := mlpGraph(t)
			if err := graph.TopoSort(g); err != nil {
				t.Fatalf("the unchanged model: %v", err)
			}
			last := g.Node[len(g.Node)-1]
			last.Output[0] = c.output
			err := graph.TopoSort(g)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want an error with %s", err, c.want)
			}
		})
	}
}

// TestTensorValuesRefuseBadDims: Floats and Int64s refuse dims a file
// cannot mean (negative, or a count that overflows int64 back into range)
// and a value count that disagrees with the dims, with an error. Each of
// these panicked: a negative makeslice, a [2^62] tensor whose byte count
// 4·2^62 wrapped to 0 and matched empty raw data, and int32 values beyond
// the dims written past the end of the slice.
func TestTensorValuesRefuseBadDims(t *testing.T) {
	typ := func(dt onnxpb.TensorProto_DataType) *int32 { return proto.Int32(int32(dt)) }
	for name, tc := range map[string]*onnxpb.TensorProto{
		"double with dims [-1]":      {Dims: []int64{-1}, DataType: typ(onnxpb.TensorProto_DOUBLE), DoubleData: []float64{1}},
		"float raw with dims [2^62]": {Dims: []int64{1 << 62}, DataType: typ(onnxpb.TensorProto_FLOAT), RawData: []byte{}},
		"float with dims [-1, -1]":   {Dims: []int64{-1, -1}, DataType: typ(onnxpb.TensorProto_FLOAT), FloatData: []float32{1}},
		"int64 raw with dims [2^62]": {Dims: []int64{1 << 62}, DataType: typ(onnxpb.TensorProto_INT64), RawData: []byte{}},
		"int32 with 3 values for 1":  {Dims: []int64{1}, DataType: typ(onnxpb.TensorProto_INT32), Int32Data: []int32{1, 2, 3}},
		"int64 with 2 values for 1":  {Dims: []int64{1}, DataType: typ(onnxpb.TensorProto_INT64), Int64Data: []int64{1, 2}},
	} {
		t.Run(name, func(t *testing.T) {
			var err error
			if dt := graph.DataType(tc); dt == onnxpb.TensorProto_FLOAT || dt == onnxpb.TensorProto_DOUBLE {
				_, err = graph.Floats(tc)
			} else {
				_, err = graph.Int64s(tc)
			}
			if err == nil {
				t.Errorf("%s: no error", name)
			}
		})
	}
	if n, err := graph.Size([]int64{2, 0, graph.MaxElements}); err != nil || n != 0 {
		t.Errorf("Size of an empty tensor: %d, %v", n, err)
	}
	if _, err := graph.Size([]int64{1 << 32, 1 << 32}); err == nil {
		t.Error("Size of [2^32, 2^32]: no error")
	}
}
