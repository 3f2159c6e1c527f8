package graph_test

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/edgeflow/edgeflow/models"
	"github.com/edgeflow/edgeflow/models/graph"
	"github.com/edgeflow/edgeflow/models/modeltest"
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

func TestTopoSortAndIndex(t *testing.T) {
	mlp := &modeltest.MLP{In: 4, Hidden: 8, Out: 2, Seed: 1}
	data, err := mlp.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	m, err := graph.Decode(data)
	if err != nil {
		t.Fatal(err)
	}
	g := m.GetGraph()
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
