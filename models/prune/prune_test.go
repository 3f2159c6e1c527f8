package prune_test

import (
	"bytes"
	"cmp"
	"errors"
	"math"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/edgeflow/edgeflow/models/compare"
	"github.com/edgeflow/edgeflow/models/graph"
	"github.com/edgeflow/edgeflow/models/modeltest"
	"github.com/edgeflow/edgeflow/models/onnxpb"
	"github.com/edgeflow/edgeflow/models/prune"
)

func save(t testing.TB, m *onnxpb.ModelProto, name string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := graph.Save(path, m); err != nil {
		t.Fatal(err)
	}
	return path
}

// measure runs both models side by side (interleaved) on the samples.
func measure(t testing.TB, a, b *onnxpb.ModelProto, samples []compare.Sample, repeat int) *compare.Result {
	t.Helper()
	res, err := compare.Files(save(t, a, "a.onnx"), save(t, b, "b.onnx"), samples, compare.Options{Task: compare.None, Repeat: repeat})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("p50 %.3f ms -> %.3f ms (%.2fx), rel RMSE %.3f%%, max abs %.4g, size %.1f%%",
		res.A.LatencyP50, res.B.LatencyP50, res.Speedup, 100*res.RelRMSE, res.MaxAbs, 100*res.SizeRatio)
	return res
}

func TestStructuredMLP(t *testing.T) {
	modeltest.RequireRuntime(t)
	const in, hidden, out, batch = 64, 2048, 32, 256
	m := mlp(in, hidden, out, 1)
	before, _ := graph.Encode(m)
	var steps [][2]int
	p, rep, err := prune.Structured(m, prune.Options{Amount: 0.5,
		Progress: func(done, total int) { steps = append(steps, [2]int{done, total}) }})
	if err != nil {
		t.Fatal(err)
	}
	if len(steps) == 0 || steps[len(steps)-1][0] != steps[len(steps)-1][1] {
		t.Errorf("progress steps %v do not end complete", steps)
	}
	t.Log(rep)
	if after, _ := graph.Encode(m); !bytes.Equal(before, after) {
		t.Fatal("the input model was modified")
	}
	if len(rep.Layers) != 1 || rep.Layers[0].Op != "Gemm" || rep.Layers[0].ChannelsBefore != hidden || rep.Layers[0].ChannelsAfter != hidden/2 {
		t.Fatalf("layers %+v", rep.Layers)
	}
	if len(rep.Skipped) != 1 || !strings.Contains(rep.Skipped[0], "graph output") {
		t.Errorf("skipped %q, want the output MatMul (its channels reach the graph output)", rep.Skipped)
	}
	wantBefore := int64(hidden*in + hidden + hidden*out + out)
	wantAfter := int64(hidden/2*in + hidden/2 + hidden/2*out + out)
	if rep.ParamsBefore != wantBefore || rep.ParamsAfter != wantAfter {
		t.Errorf("params %d -> %d, want %d -> %d", rep.ParamsBefore, rep.ParamsAfter, wantBefore, wantAfter)
	}
	if ratio := float64(rep.SizeAfter) / float64(rep.SizeBefore); ratio > 0.52 {
		t.Errorf("file is %.1f%% of the original, want about half", 100*ratio)
	}
	res := measure(t, m, p, batches(4, []int64{batch, in}, 2), 1)
	// Half of the hidden neurons are 100x weaker than the others: L1 must
	// pick exactly those, and the output barely changes.
	if res.RelRMSE > 0.02 || math.IsNaN(res.RelRMSE) {
		t.Errorf("relative RMS error %.2f%%, want < 2%%", 100*res.RelRMSE)
	}
}

func TestStructuredConv1D(t *testing.T) {
	modeltest.RequireRuntime(t)
	const width, c1, c2, out, batch = 1024, 64, 128, 8, 16
	m := conv1d(width, c1, c2, out, 3)
	p, rep, err := prune.Structured(m, prune.Options{Amount: 0.5})
	if err != nil {
		t.Fatal(err)
	}
	t.Log(rep)
	for _, l := range rep.Layers {
		t.Logf("  %s %s: %d -> %d channels, %d params", l.Op, l.Node, l.ChannelsBefore, l.ChannelsAfter, l.Params)
	}
	if len(rep.Layers) != 2 || rep.Layers[0].ChannelsAfter != c1/2 || rep.Layers[1].ChannelsAfter != c2/2 {
		t.Fatalf("layers %+v (skipped %q)", rep.Layers, rep.Skipped)
	}
	// conv1 + bias + 4 BatchNorm vectors, conv2 + its [c2,1] Add bias, Gemm.
	params := func(a, b int) int64 { return int64(a*7 + a + 4*a + b*a*5 + b + out*b + out) }
	if rep.ParamsBefore != params(c1, c2) || rep.ParamsAfter != params(c1/2, c2/2) {
		t.Errorf("params %d -> %d, want %d -> %d", rep.ParamsBefore, rep.ParamsAfter, params(c1, c2), params(c1/2, c2/2))
	}
	res := measure(t, m, p, batches(4, []int64{batch, 1, width}, 4), 1)
	if res.RelRMSE > 0.03 || math.IsNaN(res.RelRMSE) {
		t.Errorf("relative RMS error %.2f%%, want < 3%%", 100*res.RelRMSE)
	}
}

func TestStructuredRefusesResidual(t *testing.T) {
	modeltest.RequireRuntime(t)
	m := residual(64, 16, 32, 4, 5)
	p, rep, err := prune.Structured(m, prune.Options{Amount: 0.5})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Layers) != 1 || rep.Layers[0].Node != "ConvB" || rep.Layers[0].ChannelsAfter != 16 {
		t.Fatalf("layers %+v", rep.Layers)
	}
	skipped := strings.Join(rep.Skipped, "\n")
	if !strings.Contains(skipped, `"ConvA"`) || !strings.Contains(skipped, "residual") || !strings.Contains(skipped, `"ConvC"`) {
		t.Errorf("skipped:\n%s", skipped)
	}
	// ConvB keeps its 16 strongest filters: the pruned model computes what
	// the original does with the other 16 filters zeroed, residual and all.
	masked := graph.Clone(m)
	for _, init := range masked.GetGraph().GetInitializer() {
		if init.GetName() == "kb" {
			zeroWeakest(t, init, 16)
		}
	}
	data := batches(2, []int64{4, 16, 64}, 1)
	if res := measure(t, masked, p, data, 1); !(res.RelRMSE < 1e-5) {
		t.Errorf("pruned vs original with ConvB's weakest filters zeroed: relative RMS error %.3g, want ~0", res.RelRMSE)
	}
	if res := measure(t, m, p, data, 1); !(res.RelRMSE > 0.01) || math.IsInf(res.RelRMSE, 0) {
		t.Errorf("pruned vs original: relative RMS error %.3g, want a change (half of ConvB's filters are gone)", res.RelRMSE)
	}

	_, _, err = prune.Structured(m, prune.Options{Amount: 0.5, Exclude: []string{"ConvB"}})
	if !errors.Is(err, prune.ErrNotPrunable) || !strings.Contains(err.Error(), "residual") {
		t.Fatalf("err = %v, want ErrNotPrunable naming the residual join", err)
	}
	t.Log(err)
}

// zeroWeakest zeroes the n output channels (dimension 0) of a float
// initializer with the smallest L1 norm.
func zeroWeakest(t *testing.T, init *onnxpb.TensorProto, n int) {
	t.Helper()
	v, err := graph.Floats(init)
	if err != nil {
		t.Fatal(err)
	}
	ch := int(init.GetDims()[0])
	inner := len(v) / ch
	norms := make([]float64, ch)
	order := make([]int, ch)
	for c := range ch {
		order[c] = c
		for _, x := range v[c*inner : (c+1)*inner] {
			norms[c] += math.Abs(float64(x))
		}
	}
	slices.SortFunc(order, func(a, b int) int { return cmp.Compare(norms[a], norms[b]) })
	for _, c := range order[:n] {
		clear(v[c*inner : (c+1)*inner])
	}
	*init = *graph.FloatTensor(init.GetName(), init.GetDims(), v)
}

func TestUnstructuredPerLayer(t *testing.T) {
	modeltest.RequireRuntime(t)
	m := mlp(64, 256, 16, 7)
	errs := map[float64]float64{}
	for _, amount := range []float64{0.3, 0.75} {
		p, rep, err := prune.Unstructured(m, prune.Options{Amount: amount})
		if err != nil {
			t.Fatal(err)
		}
		t.Log(rep)
		if len(rep.Layers) != 2 {
			t.Fatalf("layers %+v", rep.Layers)
		}
		for _, l := range rep.Layers {
			want := math.Round(amount*float64(l.Params)) / float64(l.Params)
			if l.Sparsity != want {
				t.Errorf("%s %s sparsity %.4f, want %.4f", l.Op, l.Node, l.Sparsity, want)
			}
		}
		if rep.ParamsAfter != rep.ParamsBefore {
			t.Errorf("unstructured pruning changed the parameter count: %d -> %d", rep.ParamsBefore, rep.ParamsAfter)
		}
		res := measure(t, m, p, batches(4, []int64{8, 64}, 3), 1)
		errs[amount] = res.RelRMSE
	}
	if !(errs[0.3] < errs[0.75]) {
		t.Errorf("pruning more weights gave a smaller error: %v", errs)
	}
	// Per layer, the output layer (no weak weights) loses 30% too; global
	// ranking takes them from the weak neurons instead and must do better.
	g, _, err := prune.Unstructured(m, prune.Options{Amount: 0.3, Global: true})
	if err != nil {
		t.Fatal(err)
	}
	if res := measure(t, m, g, batches(4, []int64{8, 64}, 3), 1); res.RelRMSE >= errs[0.3]/2 {
		t.Errorf("global 30%% error %.2f%%, per layer %.2f%%: global should be far smaller here", 100*res.RelRMSE, 100*errs[0.3])
	}
}

func TestUnstructuredGlobal(t *testing.T) {
	modeltest.RequireRuntime(t)
	m := mlp(64, 256, 16, 7)
	p, rep, err := prune.Unstructured(m, prune.Options{Amount: 0.3, Global: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Log(rep)
	var total int64
	for _, l := range rep.Layers {
		t.Logf("  %s %s sparsity %.1f%%", l.Op, l.Node, 100*l.Sparsity)
		total += l.Params
	}
	if want := math.Round(0.3*float64(total)) / float64(total); math.Abs(rep.Sparsity-want) > 1e-9 {
		t.Errorf("overall sparsity %.4f, want %.4f", rep.Sparsity, want)
	}
	// The weak neurons' input weights are the smallest of the model: the
	// global threshold takes them from the first layer, not the second.
	if rep.Layers[0].Sparsity < 0.35 || rep.Layers[1].Sparsity > 0.05 {
		t.Errorf("sparsity per layer %.3f / %.3f, want the first layer pruned hardest", rep.Layers[0].Sparsity, rep.Layers[1].Sparsity)
	}
	res := measure(t, m, p, batches(4, []int64{8, 64}, 3), 1)
	if res.RelRMSE > 0.02 {
		t.Errorf("relative RMS error %.2f%%", 100*res.RelRMSE)
	}
}

func TestBadInput(t *testing.T) {
	m := mlp(8, 16, 2, 1)
	if _, _, err := prune.Structured(m, prune.Options{Amount: 1}); err == nil {
		t.Error("amount 1 accepted")
	}
	if _, _, err := prune.Unstructured(m, prune.Options{Amount: -0.1}); err == nil {
		t.Error("negative amount accepted")
	}
	if _, _, err := prune.Structured(m, prune.Options{Amount: 0.5, Global: true}); err == nil {
		t.Error("global structured pruning accepted")
	}
	if _, _, err := prune.Unstructured(m, prune.Options{Amount: 0.5, Ops: []string{"Relu"}}); err == nil {
		t.Error("pruning Relu accepted")
	}
	if _, _, err := prune.Unstructured(&onnxpb.ModelProto{}, prune.Options{Amount: 0.5}); !errors.Is(err, prune.ErrNotPrunable) {
		t.Errorf("empty model: %v", err)
	}
}
