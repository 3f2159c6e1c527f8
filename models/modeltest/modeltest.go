// Package modeltest builds small ONNX models for tests and benchmarks and
// checks that ONNX Runtime is available.
package modeltest

import (
	"errors"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/edgeflow/edgeflow/models"
	"github.com/edgeflow/edgeflow/models/graph"
	"github.com/edgeflow/edgeflow/models/onnxpb"
	"google.golang.org/protobuf/proto"
)

// RequireRuntime initialises ONNX Runtime, skipping the test only when the
// library is missing (and saying how to get it); any other failure fails.
func RequireRuntime(tb testing.TB) {
	tb.Helper()
	if err := models.Init(""); err != nil {
		if errors.Is(err, models.ErrNoRuntime) {
			tb.Skipf("skipping: %v", err)
		}
		tb.Fatalf("ONNX Runtime: %v", err)
	}
}

// MLP is a two-layer perceptron, y = relu(x·W1ᵀ + b1)·W2 + b2, built from
// Gemm, Relu, MatMul and Add. Its weights come from a seeded generator, so
// the same config gives the same model.
type MLP struct {
	In, Hidden, Out int
	// Batch fixes dimension 0 of the input and output; 0 makes it dynamic
	// (named "N").
	Batch int64
	Seed  uint64
	// Scale multiplies every weight; two MLPs that differ only in Scale
	// give different outputs (to tell versions apart in hot-swap tests).
	Scale float32

	w1, b1, w2, b2 []float32
}

func (m *MLP) weights() {
	if m.w1 != nil {
		return
	}
	if m.Scale == 0 {
		m.Scale = 1
	}
	r := rand.New(rand.NewPCG(m.Seed, 42))
	fill := func(n int, s float64) []float32 {
		out := make([]float32, n)
		for i := range out {
			out[i] = float32(r.NormFloat64()*s) * m.Scale
		}
		return out
	}
	m.w1 = fill(m.Hidden*m.In, 1/math.Sqrt(float64(m.In))) // [Hidden, In], Gemm transB=1
	m.b1 = fill(m.Hidden, 0.1)
	m.w2 = fill(m.Hidden*m.Out, 1/math.Sqrt(float64(m.Hidden))) // [Hidden, Out]
	m.b2 = fill(m.Out, 0.1)
}

// Bytes serialises the model.
func (m *MLP) Bytes() ([]byte, error) { return proto.Marshal(m.Proto()) }

// Proto returns the model as an ONNX protobuf, for tests that edit it.
func (m *MLP) Proto() *onnxpb.ModelProto {
	m.weights()
	batch := int64(-1) // dynamic
	if m.Batch > 0 {
		batch = m.Batch
	}
	tensorType := func(name string, width int) *onnxpb.ValueInfoProto {
		return graph.FloatValueInfo(name, batch, int64(width))
	}
	node := func(op string, in []string, out string, attrs ...*onnxpb.AttributeProto) *onnxpb.NodeProto {
		return &onnxpb.NodeProto{OpType: proto.String(op), Input: in, Output: []string{out}, Name: proto.String(out), Attribute: attrs}
	}
	model := &onnxpb.ModelProto{
		IrVersion:    proto.Int64(7),
		ProducerName: proto.String("edgeflow-modeltest"),
		OpsetImport:  []*onnxpb.OperatorSetIdProto{{Domain: proto.String(""), Version: proto.Int64(13)}},
		Graph: &onnxpb.GraphProto{
			Name: proto.String("mlp"),
			Node: []*onnxpb.NodeProto{
				node("Gemm", []string{"x", "w1", "b1"}, "h", &onnxpb.AttributeProto{
					Name: proto.String("transB"), Type: onnxpb.AttributeProto_INT.Enum(), I: proto.Int64(1)}),
				node("Relu", []string{"h"}, "hr"),
				node("MatMul", []string{"hr", "w2"}, "z"),
				node("Add", []string{"z", "b2"}, "y"),
			},
			Initializer: []*onnxpb.TensorProto{
				floatTensor("w1", m.w1, int64(m.Hidden), int64(m.In)),
				floatTensor("b1", m.b1, int64(m.Hidden)),
				floatTensor("w2", m.w2, int64(m.Hidden), int64(m.Out)),
				floatTensor("b2", m.b2, int64(m.Out)),
			},
			Input:  []*onnxpb.ValueInfoProto{tensorType("x", m.In)},
			Output: []*onnxpb.ValueInfoProto{tensorType("y", m.Out)},
		},
	}
	return model
}

// Write saves the model as dir/name and returns its path.
func (m *MLP) Write(tb testing.TB, dir, name string) string {
	tb.Helper()
	data, err := m.Bytes()
	if err != nil {
		tb.Fatal(err)
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, data, 0o644); err != nil {
		tb.Fatal(err)
	}
	return path
}

// Forward computes the model in Go for one sample, as a reference.
func (m *MLP) Forward(x []float32) []float32 {
	m.weights()
	h := make([]float64, m.Hidden)
	for j := range h {
		s := float64(m.b1[j])
		for i := range m.In {
			s += float64(x[i]) * float64(m.w1[j*m.In+i])
		}
		h[j] = max(s, 0)
	}
	y := make([]float32, m.Out)
	for k := range y {
		s := float64(m.b2[k])
		for j := range h {
			s += h[j] * float64(m.w2[j*m.Out+k])
		}
		y[k] = float32(s)
	}
	return y
}

// Input returns a deterministic sample for the model.
func (m *MLP) Input(seed uint64) []float32 {
	r := rand.New(rand.NewPCG(seed, 7))
	x := make([]float32, m.In)
	for i := range x {
		x[i] = float32(r.NormFloat64())
	}
	return x
}

func floatTensor(name string, data []float32, dims ...int64) *onnxpb.TensorProto {
	return &onnxpb.TensorProto{
		Name: proto.String(name), Dims: dims,
		DataType:  proto.Int32(int32(onnxpb.TensorProto_FLOAT)),
		FloatData: data,
	}
}

// SharedModels returns the read-only model mirror (../shared/models from the
// repository root), found by walking up from the working directory, or ""
// when there is none.
func SharedModels() string {
	if env := os.Getenv("EDGEFLOW_SHARED_MODELS"); env != "" {
		return env
	}
	dir, err := os.Getwd()
	if err != nil {
		return ""
	}
	for {
		p := filepath.Join(dir, "shared", "models")
		if st, err := os.Stat(filepath.Join(p, "SHA256SUMS")); err == nil && !st.IsDir() {
			return p
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return ""
		}
		dir = parent
	}
}
