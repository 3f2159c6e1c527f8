package quantize

import (
	"math"

	"github.com/edgeflow/edgeflow/models/graph"
	"github.com/edgeflow/edgeflow/models/onnxpb"
)

// foldBatchNorm folds every inference BatchNormalization that follows a
// Conv with constant weights (and is that Conv's only reader) into the
// Conv's weights and bias:
//
//	W' = W·γ/√(σ²+ε) per output channel,  B' = (B − μ)·γ/√(σ²+ε) + β.
//
// ONNX Runtime does the same when it loads a float model; doing it before
// quantising lets the Conv's weights absorb the scale before they are
// rounded, saves a quantised activation per layer (Conv→BN→Relu becomes
// Conv→Relu, which fuses into QLinearConv) and the BN parameters in the
// file. It returns the number of nodes folded.
func foldBatchNorm(g *onnxpb.GraphProto) int {
	ix := graph.NewIndex(g)
	drop := map[*onnxpb.NodeProto]bool{}
	for _, bn := range g.GetNode() {
		if bn.GetOpType() != "BatchNormalization" || len(bn.GetInput()) != 5 || len(bn.GetOutput()) < 1 {
			continue
		}
		if len(bn.GetOutput()) > 1 && bn.GetOutput()[1] != "" || graph.AttrInt(bn, "training_mode", 0) != 0 {
			continue
		}
		x := bn.GetInput()[0]
		conv := ix.Producer(x)
		if conv == nil || conv.GetOpType() != "Conv" || len(ix.Consumers(x)) != 1 || ix.IsGraphOutput(x) || len(conv.GetInput()) < 2 {
			continue
		}
		w := ix.Initializer(conv.GetInput()[1])
		if w == nil || len(w.GetDims()) < 2 || w.GetDims()[0] <= 0 {
			continue // no output channels: nothing to fold (and c below would be 0)
		}
		var params [4][]float32 // scale, bias, mean, var
		ok := true
		for i := range params {
			t := ix.Initializer(bn.GetInput()[i+1])
			if t == nil {
				ok = false
				break
			}
			v, err := graph.Floats(t)
			if err != nil || int64(len(v)) != w.GetDims()[0] {
				ok = false
				break
			}
			params[i] = v
		}
		if !ok {
			continue
		}
		wv, err := graph.Floats(w)
		if err != nil {
			continue
		}
		c := len(params[0])
		bias := make([]float32, c)
		if len(conv.GetInput()) > 2 && conv.GetInput()[2] != "" {
			b := ix.Initializer(conv.GetInput()[2])
			if b == nil {
				continue
			}
			bv, err := graph.Floats(b)
			if err != nil || len(bv) != c {
				continue
			}
			copy(bias, bv)
		}
		eps := float64(graph.AttrFloat(bn, "epsilon", 1e-5))
		per := len(wv) / c
		nw := make([]float32, len(wv))
		nb := make([]float32, c)
		for o := range c {
			f := float64(params[0][o]) / math.Sqrt(float64(params[3][o])+eps)
			for k := range per {
				nw[o*per+k] = float32(float64(wv[o*per+k]) * f)
			}
			nb[o] = float32((float64(bias[o])-float64(params[2][o]))*f + float64(params[1][o]))
		}
		wName, bName := ix.NewName(conv.GetInput()[1]+"_bn"), ix.NewName(conv.GetName()+"_bias_bn")
		ix.AddInitializer(graph.FloatTensor(wName, w.GetDims(), nw))
		ix.AddInitializer(graph.FloatTensor(bName, []int64{int64(c)}, nb))
		conv.Input[1] = wName
		if len(conv.Input) < 3 {
			conv.Input = append(conv.Input, bName)
		} else {
			conv.Input[2] = bName
		}
		conv.Output[0] = bn.GetOutput()[0]
		drop[bn] = true
	}
	if len(drop) == 0 {
		return 0
	}
	kept := g.Node[:0]
	for _, n := range g.Node {
		if !drop[n] {
			kept = append(kept, n)
		}
	}
	g.Node = kept
	graph.NewIndex(g).RemoveUnused()
	return len(drop)
}
