package prune_test

import (
	"math"
	"math/rand/v2"

	"github.com/edgeflow/edgeflow/models"
	"github.com/edgeflow/edgeflow/models/compare"
	"github.com/edgeflow/edgeflow/models/graph"
	"github.com/edgeflow/edgeflow/models/onnxpb"
	"google.golang.org/protobuf/proto"
)

// builder assembles a test model from graph helpers.
type builder struct {
	r     *rand.Rand
	nodes []*onnxpb.NodeProto
	inits []*onnxpb.TensorProto
}

func newBuilder(seed uint64) *builder { return &builder{r: rand.New(rand.NewPCG(seed, 11))} }

// weights fills a [out, rest...] tensor whose output channels are strong
// (scale s) or, for the channels in weak, 100x weaker: a model with
// redundant channels, as trained networks have, which pruning should find.
func (b *builder) weights(name string, dims []int64, s float64, weak map[int]bool) {
	n := graph.Elements(dims)
	inner := n / dims[0]
	v := make([]float32, n)
	for i := range v {
		scale := s
		if weak[int(int64(i)/inner)] {
			scale = s / 100
		}
		v[i] = float32(b.r.NormFloat64() * scale)
	}
	b.inits = append(b.inits, graph.FloatTensor(name, dims, v))
}

// transposed fills a [in, out] tensor (MatMul layout) with weak columns.
func (b *builder) transposed(name string, in, out int, s float64, weak map[int]bool) {
	v := make([]float32, in*out)
	for i := range v {
		scale := s
		if weak[i%out] {
			scale = s / 100
		}
		v[i] = float32(b.r.NormFloat64() * scale)
	}
	b.inits = append(b.inits, graph.FloatTensor(name, []int64{int64(in), int64(out)}, v))
}

func (b *builder) vector(name string, n int, fill func(i int) float32) {
	v := make([]float32, n)
	for i := range v {
		v[i] = fill(i)
	}
	b.inits = append(b.inits, graph.FloatTensor(name, []int64{int64(n)}, v))
}

func (b *builder) node(op string, in []string, out string, attrs ...*onnxpb.AttributeProto) {
	b.nodes = append(b.nodes, graph.Node(op, out, in, []string{out}, attrs...))
}

// weakHalf picks half of n channels at random.
func (b *builder) weakHalf(n int) map[int]bool {
	weak := map[int]bool{}
	for _, i := range b.r.Perm(n)[:n/2] {
		weak[i] = true
	}
	return weak
}

func (b *builder) model(name string, in, out *onnxpb.ValueInfoProto) *onnxpb.ModelProto {
	return &onnxpb.ModelProto{
		IrVersion:   proto.Int64(8),
		OpsetImport: []*onnxpb.OperatorSetIdProto{{Domain: proto.String(""), Version: proto.Int64(13)}},
		Graph: &onnxpb.GraphProto{Name: proto.String(name), Node: b.nodes, Initializer: b.inits,
			Input: []*onnxpb.ValueInfoProto{in}, Output: []*onnxpb.ValueInfoProto{out}},
	}
}

// mlp is x[N,in] -> Gemm(transB=1) -> Relu -> MatMul -> Add(bias) -> y,
// with half of the hidden neurons weak.
func mlp(in, hidden, out int, seed uint64) *onnxpb.ModelProto {
	b := newBuilder(seed)
	weak := b.weakHalf(hidden)
	b.weights("w1", []int64{int64(hidden), int64(in)}, 1/math.Sqrt(float64(in)), weak)
	b.vector("b1", hidden, func(i int) float32 {
		if weak[i] {
			return 0
		}
		return 0.1
	})
	b.transposed("w2", hidden, out, 1/math.Sqrt(float64(hidden)/2), nil)
	b.vector("b2", out, func(int) float32 { return 0.05 })
	b.node("Gemm", []string{"x", "w1", "b1"}, "h", graph.IntAttr("transB", 1))
	b.node("Relu", []string{"h"}, "hr")
	b.node("MatMul", []string{"hr", "w2"}, "z")
	b.node("Add", []string{"z", "b2"}, "y")
	return b.model("mlp", graph.FloatValueInfo("x", -1, int64(in)), graph.FloatValueInfo("y", -1, int64(out)))
}

// conv1d is a small sensor model on x[N,1,W]:
// Conv(1->c1,k7) -> BatchNorm -> Relu -> Conv(c1->c2,k5) -> Add(bias [c2,1])
// -> SiLU (Sigmoid, Mul) -> MaxPool -> GlobalAveragePool -> Flatten ->
// Gemm(c2->out). Half of the channels of both convolutions are weak.
func conv1d(width, c1, c2, out int, seed uint64) *onnxpb.ModelProto {
	b := newBuilder(seed)
	weak1, weak2 := b.weakHalf(c1), b.weakHalf(c2)
	b.weights("k1", []int64{int64(c1), 1, 7}, 0.4, weak1)
	b.vector("kb1", c1, func(int) float32 { return 0 })
	b.vector("gamma", c1, func(int) float32 { return 1 })
	b.vector("beta", c1, func(i int) float32 {
		if weak1[i] {
			return 0
		}
		return 0.1
	})
	b.vector("mean", c1, func(int) float32 { return 0 })
	b.vector("var", c1, func(int) float32 { return 1 })
	b.weights("k2", []int64{int64(c2), int64(c1), 5}, 1/math.Sqrt(float64(c1*5)/2), weak2)
	cb := make([]float32, c2)
	for i := range cb {
		if !weak2[i] {
			cb[i] = 0.05
		}
	}
	b.inits = append(b.inits, graph.FloatTensor("cb2", []int64{int64(c2), 1}, cb))
	b.weights("wf", []int64{int64(out), int64(c2)}, 1/math.Sqrt(float64(c2)/2), nil)
	b.vector("bf", out, func(int) float32 { return 0.01 })
	b.node("Conv", []string{"x", "k1", "kb1"}, "c1", graph.IntsAttr("pads", 3, 3))
	b.node("BatchNormalization", []string{"c1", "gamma", "beta", "mean", "var"}, "bn")
	b.node("Relu", []string{"bn"}, "r1")
	b.node("Conv", []string{"r1", "k2"}, "c2", graph.IntsAttr("pads", 2, 2))
	b.node("Add", []string{"c2", "cb2"}, "c2b")
	b.node("Sigmoid", []string{"c2b"}, "sig")
	b.node("Mul", []string{"c2b", "sig"}, "silu")
	b.node("MaxPool", []string{"silu"}, "mp", graph.IntsAttr("kernel_shape", 2), graph.IntsAttr("strides", 2))
	b.node("GlobalAveragePool", []string{"mp"}, "gap")
	b.node("Flatten", []string{"gap"}, "flat")
	b.node("Gemm", []string{"flat", "wf", "bf"}, "y", graph.IntAttr("transB", 1))
	return b.model("conv1d", graph.FloatValueInfo("x", -1, 1, int64(width)), graph.FloatValueInfo("y", -1, int64(out)))
}

// residual is x[N,c,W] -> ConvA(c->c) -> Relu -> Add(., x) -> ConvB(c->h)
// -> Relu -> ConvC(h->out) -> y: ConvA's channels join x, ConvC feeds the
// output, only ConvB can be pruned.
func residual(width, c, h, out int, seed uint64) *onnxpb.ModelProto {
	b := newBuilder(seed)
	b.weights("ka", []int64{int64(c), int64(c), 3}, 0.3, nil)
	b.weights("kb", []int64{int64(h), int64(c), 3}, 0.3, nil)
	b.weights("kc", []int64{int64(out), int64(h), 1}, 0.3, nil)
	pads := graph.IntsAttr("pads", 1, 1)
	b.nodes = append(b.nodes, graph.Node("Conv", "ConvA", []string{"x", "ka"}, []string{"a"}, pads))
	b.node("Relu", []string{"a"}, "ar")
	b.node("Add", []string{"ar", "x"}, "res")
	b.nodes = append(b.nodes, graph.Node("Conv", "ConvB", []string{"res", "kb"}, []string{"bo"}, pads))
	b.node("Relu", []string{"bo"}, "br")
	b.nodes = append(b.nodes, graph.Node("Conv", "ConvC", []string{"br", "kc"}, []string{"y"}))
	return b.model("residual", graph.FloatValueInfo("x", -1, int64(c), int64(width)), graph.FloatValueInfo("y", -1, int64(out), int64(width)))
}

// batches makes count random inputs of the given shape (batch first).
func batches(count int, shape []int64, seed uint64) []compare.Sample {
	r := rand.New(rand.NewPCG(seed, 5))
	out := make([]compare.Sample, count)
	for i := range out {
		v := make([]float32, models.Elements(shape))
		for k := range v {
			v[k] = float32(r.NormFloat64())
		}
		out[i] = compare.Sample{Name: "batch", Inputs: []models.Tensor{{Shape: shape, Data: v}}}
	}
	return out
}
