package prune

import (
	"cmp"
	"fmt"
	"math"
	"slices"

	"github.com/edgeflow/edgeflow/models/graph"
	"github.com/edgeflow/edgeflow/models/onnxpb"
)

// Unstructured zeroes the Amount smallest-magnitude weights of every Conv,
// Gemm and MatMul layer (or, with Global, of all of them ranked together).
// Biases are kept. The input model is not modified.
func Unstructured(m *onnxpb.ModelProto, opts Options) (*onnxpb.ModelProto, *Report, error) {
	r := &Report{Mode: "unstructured"}
	if opts.Global {
		r.Mode = "unstructured global"
	}
	out, err := prepare(m, &opts, r)
	if err != nil {
		return nil, nil, err
	}
	ix := graph.NewIndex(out.GetGraph())
	type layer struct {
		node *onnxpb.NodeProto
		w    *onnxpb.TensorProto
		data []float32
	}
	var layers []layer
	seen := map[string]bool{}
	for _, n := range candidates(out, ix, &opts, r) {
		w := ix.Initializer(n.GetInput()[1])
		if seen[w.GetName()] { // a weight shared by two nodes is pruned once
			continue
		}
		seen[w.GetName()] = true
		data, err := graph.Floats(w)
		if err != nil {
			return nil, nil, fmt.Errorf("%s %q: %w", n.GetOpType(), n.GetName(), err)
		}
		layers = append(layers, layer{n, w, data})
	}
	if len(layers) == 0 {
		return nil, nil, fmt.Errorf("%w: no %v layer with a constant float weight", ErrNotPrunable, opts.Ops)
	}
	if opts.Global {
		var all []float32
		for _, l := range layers {
			for _, v := range l.data {
				all = append(all, float32(math.Abs(float64(v))))
			}
		}
		k := int(math.Round(opts.Amount * float64(len(all))))
		// Zero the k smallest magnitudes over all layers: find the k-th
		// magnitude, zero everything below it, then ties in order until k.
		if k > 0 {
			slices.Sort(all)
			cut := all[k-1]
			below := 0
			for _, v := range all[:k] {
				if v < cut {
					below++
				}
			}
			ties := k - below
			for _, l := range layers {
				for i, v := range l.data {
					a := float32(math.Abs(float64(v)))
					switch {
					case a < cut:
						l.data[i] = 0
					case a == cut && ties > 0:
						l.data[i] = 0
						ties--
					}
				}
			}
		}
	} else {
		for i, l := range layers {
			zeroSmallest(l.data, int(math.Round(opts.Amount*float64(len(l.data)))))
			opts.progress(i+1, len(layers))
		}
	}
	for _, l := range layers {
		*l.w = *graph.FloatTensor(l.w.GetName(), l.w.GetDims(), l.data)
		zeros := countZeros(l.data)
		r.Layers = append(r.Layers, Layer{Node: l.node.GetName(), Op: l.node.GetOpType(), Weight: l.w.GetName(),
			Params: int64(len(l.data)), Zeros: zeros, Sparsity: float64(zeros) / float64(max(len(l.data), 1))})
	}
	if err := finish(out, r, &opts); err != nil {
		return nil, nil, err
	}
	return out, r, nil
}

// zeroSmallest sets the k values of w with the smallest magnitude to zero
// (ties broken by position, so that exactly k go).
func zeroSmallest(w []float32, k int) {
	if k <= 0 {
		return
	}
	idx := make([]int, len(w))
	for i := range idx {
		idx[i] = i
	}
	slices.SortStableFunc(idx, func(a, b int) int {
		return cmp.Compare(math.Abs(float64(w[a])), math.Abs(float64(w[b])))
	})
	for _, i := range idx[:min(k, len(idx))] {
		w[i] = 0
	}
}
