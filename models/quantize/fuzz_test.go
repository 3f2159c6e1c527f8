package quantize

import (
	"bytes"
	"errors"
	"fmt"
	"hash/fnv"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/edgeflow/edgeflow/models"
	"github.com/edgeflow/edgeflow/models/graph"
	"github.com/edgeflow/edgeflow/models/modeltest"
	"github.com/edgeflow/edgeflow/models/onnxpb"
	"google.golang.org/protobuf/proto"
)

// Bits of FuzzQuantize's flags argument: which options the run uses.
const (
	fuzzPerTensor = 1 << iota
	fuzzSigned
	fuzzFloatStem
	fuzzMoveOps
	fuzzBiasCorrection
	fuzzFoldFocus
	fuzzOpsetKeep
	fuzzPercentile
)

// FuzzQuantize: `edgeflow model quantize` takes any file the user names,
// so every quantisation mode must refuse a bad model with an error, never
// panic, and whatever it accepts must come out a valid graph. The body
// decodes the bytes as the CLI does (graph.Decode, under graph.Load;
// bytes that do not decode select a seed instead) and runs dynamic,
// weight-only and static quantisation up to the encoded result, without
// ONNX Runtime: static calibration gets ranges and channel
// means made up from each tensor's name instead of running the model (the
// statistics only choose scales; FuzzOpen covers ORT's own parsing), and
// the final ORT load and kernel check are left out. flags picks the
// options (per tensor, signed, float stem, MoveOps, bias correction,
// FoldFocus, opset policy, percentile), edits structural changes to the
// decoded graph (see editGraph).
func FuzzQuantize(f *testing.F) {
	seeds := fuzzSeeds(f)
	checkSeedsQuantize(f, seeds)
	for i, b := range seeds {
		// The body must accept the seeds, or it only ever tests refusals.
		for _, flags := range []uint8{0, 0xff, fuzzFoldFocus} {
			for _, mode := range []string{"dynamic", "weight-only", "static"} {
				m, err := graph.Decode(b)
				if err != nil {
					f.Fatal(err)
				}
				opts := fuzzOptions(flags)
				r := &Report{Mode: mode}
				if _, err := quantizeWithoutRuntime(m, mode, &opts, r); err != nil {
					f.Fatalf("seed %d, flags %#x, %s: %v", i, flags, mode, err)
				}
				// The last two seeds are there for the upgrade and FoldFocus.
				if i == len(seeds)-2 && len(r.Upgraded) < 7 {
					f.Fatalf("the opset 9 seed: %s upgrade rewrote only %q", mode, r.Upgraded)
				}
				if i == len(seeds)-1 && mode == "static" && flags == fuzzFoldFocus && r.FocusFolded != 1 {
					f.Fatalf("the Focus seed: FoldFocus folded %d stems", r.FocusFolded)
				}
			}
		}
		f.Add(b, uint8(0), []byte(nil))
		f.Add(b, uint8(0xff), []byte(nil))
		f.Add(b, uint8(fuzzFoldFocus), []byte(nil))
		f.Add(b[:len(b)*2/3], uint8(i), []byte(nil))
		flipped := slices.Clone(b)
		flipped[len(flipped)/3] ^= 0x40
		f.Add(flipped, uint8(fuzzMoveOps|fuzzFloatStem), []byte(nil))
		// One seed per kind of edit, on every node or tensor in turn.
		for e := range byte(editKinds) {
			f.Add(b, uint8(i), []byte{e, 0, e, 1, e, 2, e, 3})
		}
	}
	f.Add([]byte{}, uint8(0), []byte(nil))
	f.Add([]byte{0x3a, 0x02, 0x0a, 0x00}, uint8(0), []byte(nil)) // a graph with one empty node
	f.Fuzz(func(t *testing.T, data []byte, flags uint8, edits []byte) {
		if len(data) > 16<<10 || len(edits) > 64 {
			return // a bigger input reaches no code a small one does not; it only slows the run
		}
		m, err := graph.Decode(data)
		if err != nil {
			// Most byte mutations break the protobuf (graph.FuzzDecode
			// covers that path): edit a seed instead, chosen by the
			// length, so that those executions still test the quantiser.
			if m, err = graph.Decode(seeds[len(data)%len(seeds)]); err != nil {
				t.Fatal(err)
			}
		}
		editGraph(m, edits)
		in := graph.Clone(m)
		// Bytes, not proto.Equal: a NaN weight is not equal to itself.
		before, err := graph.Encode(m)
		if err != nil {
			return
		}
		for _, mode := range []string{"dynamic", "weight-only", "static"} {
			r := &Report{Mode: mode}
			opts := fuzzOptions(flags)
			out, err := quantizeWithoutRuntime(m, mode, &opts, r)
			if after, _ := graph.Encode(m); !bytes.Equal(after, before) {
				t.Fatalf("%s quantisation changed its input model", mode)
			}
			if err != nil {
				continue
			}
			enc, err := seal(out, r, nil)
			if err != nil {
				// prepare sorted the input graph: a graph the rewrite
				// cannot sort any more is the quantiser's doing.
				t.Fatalf("%s: the quantised graph does not seal: %v", mode, err)
			}
			checkQuantized(t, mode, in, enc, r, opts)
		}
	})
}

// editKinds is how many kinds of edit editGraph knows.
const editKinds = 10

// editOps are the operators an edit may turn a node into: those the
// quantiser and the upgrade treat specially.
var editOps = []string{"Conv", "Gemm", "MatMul", "Add", "Mul", "Concat", "MaxPool", "AveragePool",
	"GlobalAveragePool", "Sigmoid", "Relu", "Clip", "Split", "Reshape", "Transpose", "Slice",
	"Softmax", "Dropout", "Pad", "Squeeze", "BatchNormalization", "Resize", "If"}

// editGraph applies structural edits to a decoded model, two bytes each
// (kind, target), so that the fuzzer reaches malformed graphs that
// byte-level mutation of the protobuf rarely builds: a node loses an input
// or an output or changes operator, an initializer gets odd dims or
// another element type, a name is produced twice, the opset changes, an
// attribute gets an odd value.
func editGraph(m *onnxpb.ModelProto, edits []byte) {
	g := m.GetGraph()
	for i := 0; i+1 < len(edits); i += 2 {
		kind, at := edits[i]%editKinds, int(edits[i+1])
		var n *onnxpb.NodeProto
		if len(g.GetNode()) > 0 {
			n = g.Node[at%len(g.Node)]
		}
		var init *onnxpb.TensorProto
		if len(g.GetInitializer()) > 0 {
			init = g.Initializer[at%len(g.Initializer)]
		}
		switch kind {
		case 0:
			if n != nil && len(n.Input) > 0 {
				n.Input = n.Input[:len(n.Input)-1]
			}
		case 1:
			if n != nil && len(n.Output) > 0 {
				n.Output = n.Output[:len(n.Output)-1]
			}
		case 2:
			if n != nil {
				n.OpType = proto.String(editOps[at%len(editOps)])
			}
		case 3:
			if init != nil {
				odd := [][]int64{{0}, {-1}, {1 << 40, 0}, {-1, -1}, {1 << 32, 1 << 32}, nil, {0, 3, 1, 1}, {1, 1, 1, 1, 1}}
				init.Dims = odd[at%len(odd)]
			}
		case 4:
			if init != nil {
				types := []onnxpb.TensorProto_DataType{onnxpb.TensorProto_DOUBLE, onnxpb.TensorProto_INT32,
					onnxpb.TensorProto_INT64, onnxpb.TensorProto_FLOAT16, onnxpb.TensorProto_UINT8}
				init.DataType = proto.Int32(int32(types[at%len(types)]))
			}
		case 5:
			if n != nil && len(g.Node) > 1 && len(n.Output) > 0 {
				o := g.Node[(at+1)%len(g.Node)]
				if len(o.Output) > 0 {
					n.Output[0] = o.Output[0] // a name with two producers
				}
			}
		case 6:
			graph.SetOpset(m, "", int64(8+at%7))
		case 7:
			if n != nil {
				attrs := []*onnxpb.AttributeProto{graph.IntAttr("group", 0), graph.IntAttr("group", 2),
					graph.IntAttr("transB", 1), graph.IntAttr("transA", 1), graph.IntAttr("axis", -1),
					graph.IntAttr("axis", 7), graph.FloatAttr("alpha", 2), graph.IntsAttr("split"),
					graph.IntsAttr("strides", 2, 2), graph.IntAttr("training_mode", 1)}
				graph.SetAttr(n, attrs[at%len(attrs)])
			}
		case 8:
			if n != nil && len(n.Input) > 0 {
				// Read a name that is another node's input, an
				// initializer or nothing at all.
				names := []string{"", n.Input[0]}
				if init != nil {
					names = append(names, init.GetName())
				}
				n.Input = append(n.Input, names[at%len(names)])
			}
		case 9:
			if n != nil && init != nil && len(n.Input) > 0 {
				n.Input[at%len(n.Input)] = init.GetName()
			}
		}
	}
}

// quantizeWithoutRuntime runs one mode as Dynamic, WeightOnly and Static
// do, up to the graph finish seals.
func quantizeWithoutRuntime(m *onnxpb.ModelProto, mode string, opts *Options, r *Report) (*onnxpb.ModelProto, error) {
	switch mode {
	case "dynamic":
		return dynamic(m, opts, r)
	case "weight-only":
		return weightOnly(m, opts, r)
	}
	q, err := planStatic(m, opts, r)
	if err != nil {
		return nil, err
	}
	if err := q.quantize(fakeStats(q), nil); err != nil {
		return nil, err
	}
	return q.m, nil
}

func fuzzOptions(flags uint8) Options {
	opts := Options{
		PerTensor:         flags&fuzzPerTensor != 0,
		SignedActivations: flags&fuzzSigned != 0,
		FloatStem:         flags&fuzzFloatStem != 0,
		BiasCorrection:    flags&fuzzBiasCorrection != 0,
		FoldFocus:         flags&fuzzFoldFocus != 0,
	}
	if flags&fuzzMoveOps != 0 {
		opts.Ops = append(append(slices.Clone(DefaultOps), MoveOps...), "Sigmoid", "Mul")
	}
	if flags&fuzzOpsetKeep != 0 {
		opts.Opset = OpsetKeep
	}
	if flags&fuzzPercentile != 0 {
		opts.Method = Percentile
	}
	return opts
}

// fakeStats stands in for calibration: every activation gets statistics
// chosen by a hash of its name (of its source's, for moved values), covering what calibration can report (a
// Relu-like range, a symmetric one, only zeros, a wide range with a small
// spread that MaxStep keeps float, an infinite value), and per-channel
// means sized for the Conv that reads it, as ORT's output shapes would
// size them.
func fakeStats(q *quantizer) map[string]*stats {
	st := map[string]*stats{}
	r := rand.New(rand.NewPCG(1, 2))
	for _, name := range q.acts {
		h := fnv.New64a()
		h.Write([]byte(moveSource(q.ix, name)))
		k := h.Sum64()
		var v []float32
		switch k % 6 {
		case 0:
			v = []float32{0, 0, 0}
		case 1:
			v = []float32{0, 0.5, 3, 6}
		case 2:
			v = []float32{-1, -0.25, 0.5, 1}
		case 4:
			v = []float32{float32(math.Inf(1)), -2, 1}
		case 5:
			v = []float32{-0.01, 0.02, float32(math.NaN())}
		}
		s := &stats{}
		s.add(v, q.opts.Method == Percentile, r)
		if k%6 == 3 { // [-1000, 1000] with a standard deviation of 1: MaxStep keeps it float
			s.min, s.max, s.seen, s.sq = -1000, 1000, 1<<20, 1<<20
		}
		channels := int64(1 + k%5)
		for _, c := range q.ix.Consumers(name) {
			if c.GetOpType() != "Conv" || len(c.GetInput()) < 2 {
				continue
			}
			if w := q.ix.Initializer(c.GetInput()[1]); w != nil && len(w.GetDims()) >= 2 {
				channels = w.GetDims()[1] * graph.AttrInt(c, "group", 1)
			}
		}
		if channels > 0 && channels <= 1<<12 {
			t := models.Tensor{Shape: []int64{1, channels, 2}, Data: make([]float32, 2*channels)}
			for i := range t.Data {
				t.Data[i] = float32(i%7) - 3
			}
			s.addChannels(t)
		}
		st[name] = s
	}
	return st
}

// moveSource follows name back through nodes that only move values to the
// tensor they come from: calibration finds (nearly) the same range on
// both, so fakeStats gives them the same, which lets FoldFocus fold.
func moveSource(ix *graph.Index, name string) string {
	for range len(ix.G.GetNode()) {
		p := ix.Producer(name)
		if p == nil || len(p.GetInput()) == 0 || p.GetInput()[0] == "" {
			break
		}
		switch p.GetOpType() {
		case "Slice", "Split", "Reshape", "Transpose", "Concat", "Flatten", "Squeeze", "Unsqueeze", "MaxPool", "Identity":
			name = p.GetInput()[0]
			continue
		}
		break
	}
	return name
}

// checkQuantized checks an accepted model's encoded result: it decodes,
// every node reads only defined names and the nodes sort, every name has
// one producer, the graph outputs the input produced are still produced,
// the quantisation nodes are as many as the report says and their
// parameters are finite positive constants.
func checkQuantized(t *testing.T, mode string, in *onnxpb.ModelProto, enc []byte, r *Report, opts Options) {
	t.Helper()
	out, err := graph.Decode(enc)
	if err != nil {
		t.Fatalf("%s: the quantised model does not decode: %v", mode, err)
	}
	g := out.GetGraph()
	if err := graph.TopoSort(g); err != nil {
		t.Fatalf("%s: the quantised graph is invalid: %v", mode, err)
	}
	if err := singleProducers(in.GetGraph()); err == nil {
		if err := singleProducers(g); err != nil {
			t.Fatalf("%s: %v", mode, err)
		}
	}
	produced := producedNames(g)
	inProduced := producedNames(in.GetGraph())
	for _, o := range in.GetGraph().GetOutput() {
		if inProduced[o.GetName()] && !produced[o.GetName()] {
			t.Fatalf("%s: graph output %q is no longer produced", mode, o.GetName())
		}
	}
	ix := graph.NewIndex(g)
	count := map[string]int{}
	for _, n := range g.GetNode() {
		count[n.GetOpType()]++
		if op := n.GetOpType(); op != "QuantizeLinear" && op != "DequantizeLinear" {
			continue
		}
		if len(n.GetInput()) != 3 {
			t.Fatalf("%s: %s %q has %d inputs", mode, n.GetOpType(), n.GetName(), len(n.GetInput()))
		}
		s := ix.Initializer(n.GetInput()[1])
		if s == nil || ix.Initializer(n.GetInput()[2]) == nil {
			t.Fatalf("%s: %s %q takes a computed scale or zero point", mode, n.GetOpType(), n.GetName())
		}
		scales, err := graph.Floats(s)
		if err != nil {
			t.Fatalf("%s: scale %q: %v", mode, s.GetName(), err)
		}
		for _, v := range scales {
			if !(v > 0) || math.IsInf(float64(v), 0) {
				t.Fatalf("%s: scale %q holds %v", mode, s.GetName(), v)
			}
		}
	}
	switch {
	case mode == "dynamic" && count["DynamicQuantizeLinear"] != r.Activations:
		t.Fatalf("dynamic: %d DynamicQuantizeLinear nodes, the report says %d activations", count["DynamicQuantizeLinear"], r.Activations)
	case mode == "static" && !opts.FoldFocus && count["QuantizeLinear"] != r.Activations:
		t.Fatalf("static: %d QuantizeLinear nodes, the report says %d activations", count["QuantizeLinear"], r.Activations)
	}
}

// singleProducers fails when a name is produced twice (by nodes, graph
// inputs or initializers: an initializer may also be listed as an input).
func singleProducers(g *onnxpb.GraphProto) error {
	seen := map[string]bool{}
	for _, n := range g.GetNode() {
		for _, o := range n.GetOutput() {
			if o == "" {
				continue
			}
			if seen[o] {
				return fmt.Errorf("%q is produced twice", o)
			}
			seen[o] = true
		}
	}
	for _, vi := range g.GetInput() {
		if seen[vi.GetName()] {
			return fmt.Errorf("%q is both a graph input and a node output", vi.GetName())
		}
	}
	for _, t := range g.GetInitializer() {
		if seen[t.GetName()] {
			return fmt.Errorf("%q is both an initializer and a node output", t.GetName())
		}
	}
	return nil
}

func producedNames(g *onnxpb.GraphProto) map[string]bool {
	p := map[string]bool{}
	for _, n := range g.GetNode() {
		for _, o := range n.GetOutput() {
			p[o] = true
		}
	}
	for _, vi := range g.GetInput() {
		p[vi.GetName()] = true
	}
	for _, t := range g.GetInitializer() {
		p[t.GetName()] = true
	}
	return p
}

// fuzzSeeds are small valid models: modeltest's MLP (Gemm, Relu, MatMul,
// Add) at opset 13 and 11, a conv net with every operator the quantiser
// treats specially, an opset 9 net with every node the upgrade to 13
// rewrites, and a YOLOX Focus stem for FoldFocus.
func fuzzSeeds(tb testing.TB) [][]byte {
	tb.Helper()
	mlp := &modeltest.MLP{In: 4, Hidden: 3, Out: 2, Seed: 1}
	old := mlp.Proto()
	graph.SetOpset(old, "", 11)
	var seeds [][]byte
	for _, m := range []*onnxpb.ModelProto{mlp.Proto(), old, fuzzConvNet(), fuzzOpset9Net(), fuzzFocusNet()} {
		b, err := graph.Encode(m)
		if err != nil {
			tb.Fatal(err)
		}
		seeds = append(seeds, b)
	}
	return seeds
}

// fuzzConvNet: x[1,3,8,8] -> Conv -> BatchNormalization -> Relu (the stem)
// -> Conv -> Sigmoid, Mul (SiLU) -> Concat with the stem -> MaxPool ->
// Conv 1x1 -> Transpose -> Split -> Add -> AveragePool -> Reshape ->
// MatMul -> Gemm -> y[1,2], and a GlobalAveragePool branch to a second
// output.
func fuzzConvNet() *onnxpb.ModelProto {
	r := rand.New(rand.NewPCG(5, 6))
	w := func(name string, dims ...int64) *onnxpb.TensorProto {
		v := make([]float32, graph.Elements(dims))
		for i := range v {
			v[i] = float32(r.NormFloat64() * 0.3)
		}
		return graph.FloatTensor(name, dims, v)
	}
	ones := make([]float32, 4)
	for i := range ones {
		ones[i] = 1
	}
	n := graph.Node
	return &onnxpb.ModelProto{
		IrVersion:   proto.Int64(8),
		OpsetImport: []*onnxpb.OperatorSetIdProto{{Domain: proto.String(""), Version: proto.Int64(13)}},
		Graph: &onnxpb.GraphProto{
			Name: proto.String("fuzz_conv"),
			Node: []*onnxpb.NodeProto{
				n("Conv", "c1", []string{"x", "w1", "b1"}, []string{"t1"}, graph.IntsAttr("pads", 1, 1, 1, 1)),
				n("BatchNormalization", "bn", []string{"t1", "bn_s", "bn_b", "bn_m", "bn_v"}, []string{"t1n"}),
				n("Relu", "r1", []string{"t1n"}, []string{"t1r"}),
				n("Conv", "c2", []string{"t1r", "w2", "b2"}, []string{"t2"}, graph.IntsAttr("pads", 1, 1, 1, 1)),
				n("Sigmoid", "sg", []string{"t2"}, []string{"t2s"}),
				n("Mul", "silu", []string{"t2", "t2s"}, []string{"t2m"}),
				n("Concat", "cat", []string{"t1r", "t2m"}, []string{"t3"}, graph.IntAttr("axis", 1)),
				n("MaxPool", "mp", []string{"t3"}, []string{"t4"}, graph.IntsAttr("kernel_shape", 2, 2), graph.IntsAttr("strides", 2, 2)),
				n("Conv", "c3", []string{"t4", "w3"}, []string{"t5"}),
				n("Transpose", "tr", []string{"t5"}, []string{"t6"}, graph.IntsAttr("perm", 0, 1, 3, 2)),
				n("Split", "sp", []string{"t6", "split"}, []string{"t7a", "t7b"}, graph.IntAttr("axis", 1)),
				n("Add", "add", []string{"t7a", "t7b"}, []string{"t8"}),
				n("AveragePool", "ap", []string{"t8"}, []string{"t9"}, graph.IntsAttr("kernel_shape", 2, 2), graph.IntsAttr("strides", 2, 2)),
				n("Reshape", "rs", []string{"t9", "shape"}, []string{"t10"}),
				n("MatMul", "mm", []string{"t10", "w4"}, []string{"t11"}),
				n("Gemm", "fc", []string{"t11", "w5", "b5"}, []string{"y"}, graph.IntAttr("transB", 1)),
				n("GlobalAveragePool", "gap", []string{"t5"}, []string{"z"}),
			},
			Initializer: []*onnxpb.TensorProto{
				w("w1", 4, 3, 3, 3), w("b1", 4),
				graph.FloatTensor("bn_s", []int64{4}, ones), w("bn_b", 4), w("bn_m", 4), graph.FloatTensor("bn_v", []int64{4}, ones),
				w("w2", 4, 4, 3, 3), w("b2", 4),
				w("w3", 8, 8, 1, 1),
				graph.Int64Tensor("split", []int64{2}, []int64{4, 4}),
				graph.Int64Tensor("shape", []int64{2}, []int64{1, 16}),
				w("w4", 16, 3),
				w("w5", 2, 3), w("b5", 2),
			},
			Input:  []*onnxpb.ValueInfoProto{graph.FloatValueInfo("x", 1, 3, 8, 8)},
			Output: []*onnxpb.ValueInfoProto{graph.FloatValueInfo("y", 1, 2), graph.FloatValueInfo("z", 1, 8, 1, 1)},
		},
	}
}

// fuzzWeights returns a seeded weight tensor.
func fuzzWeights(r *rand.Rand, name string, dims ...int64) *onnxpb.TensorProto {
	v := make([]float32, graph.Elements(dims))
	for i := range v {
		v[i] = float32(r.NormFloat64() * 0.3)
	}
	return graph.FloatTensor(name, dims, v)
}

// fuzzOpset9Net: x[1,3,8,8] -> Conv -> Clip (attributes) -> Split
// (attribute) -> Slice (attributes) and Pad (attributes) -> Concat ->
// MaxPool -> Dropout -> Squeeze (attribute) -> Gemm -> Softmax (the
// flattening kind) -> y[1,3], at opset 9: the upgrade rewrites all but
// the Conv, Concat, MaxPool and Gemm.
func fuzzOpset9Net() *onnxpb.ModelProto {
	r := rand.New(rand.NewPCG(9, 9))
	n := graph.Node
	return &onnxpb.ModelProto{
		IrVersion:   proto.Int64(4),
		OpsetImport: []*onnxpb.OperatorSetIdProto{{Domain: proto.String(""), Version: proto.Int64(9)}},
		Graph: &onnxpb.GraphProto{
			Name: proto.String("fuzz_opset9"),
			Node: []*onnxpb.NodeProto{
				n("Conv", "c1", []string{"x", "w1", "b1"}, []string{"t1"}, graph.IntsAttr("pads", 1, 1, 1, 1)),
				n("Clip", "clip", []string{"t1"}, []string{"t2"}, graph.FloatAttr("min", 0), graph.FloatAttr("max", 6)),
				n("Split", "sp", []string{"t2"}, []string{"a", "b"}, graph.IntAttr("axis", 1), graph.IntsAttr("split", 1, 3)),
				n("Slice", "sl", []string{"b"}, []string{"bs"}, graph.IntsAttr("starts", 0), graph.IntsAttr("ends", 2), graph.IntsAttr("axes", 1)),
				n("Pad", "pad", []string{"a"}, []string{"ap"}, graph.IntsAttr("pads", 0, 0, 0, 0, 0, 1, 0, 0)),
				n("Concat", "cat", []string{"ap", "bs"}, []string{"t3"}, graph.IntAttr("axis", 1)),
				n("MaxPool", "mp", []string{"t3"}, []string{"t4"}, graph.IntsAttr("kernel_shape", 8, 8)),
				n("Dropout", "drop", []string{"t4"}, []string{"t5"}),
				n("Squeeze", "sq", []string{"t5"}, []string{"t6"}, graph.IntsAttr("axes", 2, 3)),
				n("Gemm", "fc", []string{"t6", "w2", "b2"}, []string{"t7"}, graph.IntAttr("transB", 1)),
				n("Softmax", "soft", []string{"t7"}, []string{"y"}),
			},
			Initializer: []*onnxpb.TensorProto{
				fuzzWeights(r, "w1", 4, 3, 3, 3), fuzzWeights(r, "b1", 4),
				fuzzWeights(r, "w2", 3, 4), fuzzWeights(r, "b2", 3),
			},
			Input:  []*onnxpb.ValueInfoProto{graph.FloatValueInfo("x", 1, 3, 8, 8)},
			Output: []*onnxpb.ValueInfoProto{graph.FloatValueInfo("y", 1, 3)},
		},
	}
}

// fuzzFocusNet is YOLOX's Focus stem, x[1,3,8,8] -> four phases by two
// strided Slices each -> Concat -> Conv 12->4 (which FoldFocus rewrites)
// -> Relu -> GlobalAveragePool -> Flatten -> Gemm -> y[1,2].
func fuzzFocusNet() *onnxpb.ModelProto {
	r := rand.New(rand.NewPCG(7, 19))
	ints := func(name string, v int64) *onnxpb.TensorProto { return graph.Int64Tensor(name, []int64{1}, []int64{v}) }
	var nodes []*onnxpb.NodeProto
	var phases []string
	start := []string{"zero", "one"}
	for _, ph := range [][2]int{{0, 0}, {1, 0}, {0, 1}, {1, 1}} {
		rows, cols := fmt.Sprintf("rows%d%d", ph[0], ph[1]), fmt.Sprintf("cols%d%d", ph[0], ph[1])
		nodes = append(nodes,
			graph.Node("Slice", rows, []string{"x", start[ph[0]], "end", "two", "two"}, []string{rows}),
			graph.Node("Slice", cols, []string{rows, start[ph[1]], "end", "three", "two"}, []string{cols}))
		phases = append(phases, cols)
	}
	nodes = append(nodes,
		graph.Node("Concat", "cat", phases, []string{"cat"}, graph.IntAttr("axis", 1)),
		graph.Node("Conv", "conv", []string{"cat", "w", "b"}, []string{"c"}, graph.IntsAttr("kernel_shape", 3, 3), graph.IntsAttr("pads", 1, 1, 1, 1)),
		// fakeStats gives "c1r" a range MaxStep keeps float, so the Conv
		// stays float with its float weight, as FoldFocus needs.
		graph.Node("Relu", "relu", []string{"c"}, []string{"c1r"}),
		graph.Node("GlobalAveragePool", "gap", []string{"c1r"}, []string{"g"}),
		graph.Node("Flatten", "flat", []string{"g"}, []string{"f"}),
		graph.Node("Gemm", "fc", []string{"f", "w2"}, []string{"y"}, graph.IntAttr("transB", 1)))
	return &onnxpb.ModelProto{
		IrVersion:   proto.Int64(8),
		OpsetImport: []*onnxpb.OperatorSetIdProto{{Domain: proto.String(""), Version: proto.Int64(13)}},
		Graph: &onnxpb.GraphProto{Name: proto.String("fuzz_focus"), Node: nodes,
			Initializer: []*onnxpb.TensorProto{
				fuzzWeights(r, "w", 4, 12, 3, 3), fuzzWeights(r, "b", 4), fuzzWeights(r, "w2", 2, 4),
				ints("zero", 0), ints("one", 1), ints("end", math.MaxInt64), ints("two", 2), ints("three", 3),
			},
			Input:  []*onnxpb.ValueInfoProto{graph.FloatValueInfo("x", 1, 3, 8, 8)},
			Output: []*onnxpb.ValueInfoProto{graph.FloatValueInfo("y", 1, 2)}},
	}
}

// checkSeedsQuantize: the seeds must quantise for real, with ONNX Runtime,
// in every mode, or the fuzzer would start from models the quantiser
// refuses. Without ONNX Runtime the check is skipped, not the target: the
// fuzz body does not need it.
func checkSeedsQuantize(f *testing.F, seeds [][]byte) {
	f.Helper()
	if err := models.Init(""); err != nil {
		if errors.Is(err, models.ErrNoRuntime) {
			f.Logf("seeds not checked against ONNX Runtime: %v", err)
			return
		}
		f.Fatalf("ONNX Runtime: %v", err)
	}
	for i, b := range seeds {
		m, err := graph.Decode(b)
		if err != nil {
			f.Fatal(err)
		}
		info, err := models.InspectBytes(b)
		if err != nil {
			f.Fatal(err)
		}
		var sample []models.Tensor
		for _, in := range info.Inputs {
			shape := slices.Clone(in.Shape)
			for k := range shape {
				shape[k] = max(shape[k], 1)
			}
			data := make([]float32, graph.Elements(shape))
			for k := range data {
				data[k] = float32(k%11)/5 - 1
			}
			sample = append(sample, models.Tensor{Shape: shape, Data: data})
		}
		calib := [][]models.Tensor{sample, sample}
		opts := Options{Ops: append(slices.Clone(DefaultOps), MoveOps...), FloatStem: i == 2, KernelCheck: models.KernelCheckOff}
		if _, _, err := Static(m, FromSamples(calib), opts); err != nil {
			f.Fatalf("seed %d: static: %v", i, err)
		}
		if _, _, err := Dynamic(m, Options{KernelCheck: models.KernelCheckOff}); err != nil {
			f.Fatalf("seed %d: dynamic: %v", i, err)
		}
		if _, _, err := WeightOnly(m, Options{KernelCheck: models.KernelCheckOff}); err != nil {
			f.Fatalf("seed %d: weight-only: %v", i, err)
		}
	}
}
