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
	ort "github.com/yalue/onnxruntime_go"
	"google.golang.org/protobuf/proto"
)

// sensorMLP builds a dense autoencoder-shaped sensor model in Go:
// x[N,in] -> Gemm(h1) -> Relu -> Gemm(h2) -> Relu -> Gemm(in), with He-like
// seeded weights.
func sensorMLP(in, h1, h2 int, seed uint64) *onnxpb.ModelProto {
	r := rand.New(rand.NewPCG(seed, 3))
	fill := func(n int, s float64) []float32 { return normalWeights(r, n, s) }
	var inits []*onnxpb.TensorProto
	var nodes []*onnxpb.NodeProto
	prev, width := "x", in
	for i, w := range []int{h1, h2, in} {
		wn, bn := "w"+string(rune('1'+i)), "b"+string(rune('1'+i))
		inits = append(inits,
			graph.FloatTensor(wn, []int64{int64(w), int64(width)}, fill(w*width, math.Sqrt(2/float64(width)))),
			graph.FloatTensor(bn, []int64{int64(w)}, fill(w, 0.05)))
		out := "g" + string(rune('1'+i))
		nodes = append(nodes, graph.Node("Gemm", out, []string{prev, wn, bn}, []string{out}, graph.IntAttr("transB", 1)))
		prev, width = out, w
		if i < 2 {
			nodes = append(nodes, graph.Node("Relu", out+"_relu", []string{out}, []string{out + "_relu"}))
			prev = out + "_relu"
		}
	}
	nodes[len(nodes)-1].Output = []string{"y"}
	return &onnxpb.ModelProto{
		IrVersion:   proto.Int64(8),
		OpsetImport: []*onnxpb.OperatorSetIdProto{{Domain: proto.String(""), Version: proto.Int64(13)}},
		Graph: &onnxpb.GraphProto{Name: proto.String("sensor_mlp"), Node: nodes, Initializer: inits,
			Input:  []*onnxpb.ValueInfoProto{graph.FloatValueInfo("x", -1, int64(in))},
			Output: []*onnxpb.ValueInfoProto{graph.FloatValueInfo("y", -1, int64(in))}},
	}
}

// sensorData makes smooth multi-sine windows like the generate source's
// sensor readings, so that activations have realistic ranges.
func sensorData(n, width int, seed uint64) [][]float32 {
	r := rand.New(rand.NewPCG(seed, 9))
	out := make([][]float32, n)
	for i := range out {
		v := make([]float32, width)
		f1, f2, ph := 1+r.Float64()*4, 5+r.Float64()*10, r.Float64()*6
		for k := range v {
			t := float64(k) / float64(width)
			v[k] = float32(math.Sin(2*math.Pi*f1*t+ph) + 0.3*math.Sin(2*math.Pi*f2*t) + 0.05*r.NormFloat64())
		}
		out[i] = v
	}
	return out
}

// optimizedOps loads a model in ORT with every optimisation on (and the
// session config entries given as key, value pairs), asks ORT to save the
// optimised graph, and counts its operators.
func optimizedOps(t *testing.T, m *onnxpb.ModelProto, config ...string) map[string]int {
	t.Helper()
	modeltest.RequireRuntime(t)
	data, err := graph.Encode(m)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "optimized.onnx")
	so, err := ort.NewSessionOptions()
	if err != nil {
		t.Fatal(err)
	}
	defer so.Destroy()
	if err := so.SetGraphOptimizationLevel(ort.GraphOptimizationLevelEnableAll); err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(config); i += 2 {
		if err := so.AddSessionConfigEntry(config[i], config[i+1]); err != nil {
			t.Fatal(err)
		}
	}
	if err := so.SetOptimizedModelFilePath(path); err != nil {
		t.Fatal(err)
	}
	info, err := models.InspectBytes(data)
	if err != nil {
		t.Fatal(err)
	}
	s, err := ort.NewDynamicAdvancedSessionWithONNXData(data, info.InputNames(), info.OutputNames(), so)
	if err != nil {
		t.Fatal(err)
	}
	s.Destroy()
	opt, err := graph.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	ops := map[string]int{}
	for _, n := range opt.GetGraph().GetNode() {
		ops[n.GetOpType()]++
	}
	return ops
}

func writeModel(t testing.TB, m *onnxpb.ModelProto, name string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := graph.Save(path, m); err != nil {
		t.Fatal(err)
	}
	return path
}

// normalWeights returns n values drawn from r with standard deviation s:
// seeded weights for the models the tests build.
func normalWeights(r *rand.Rand, n int, s float64) []float32 {
	out := make([]float32, n)
	for i := range out {
		out[i] = float32(r.NormFloat64() * s)
	}
	return out
}
