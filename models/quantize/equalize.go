package quantize

import (
	"errors"
	"fmt"
	"io"
	"math"

	"github.com/edgeflow/edgeflow/models"
	"github.com/edgeflow/edgeflow/models/graph"
	"github.com/edgeflow/edgeflow/models/onnxpb"
	"google.golang.org/protobuf/proto"
)

// equalizeMaxScale bounds the factor one channel is scaled by.
const equalizeMaxScale = 64

// eqPair is a Conv whose output channels reach another Conv's input
// channels unmixed: directly, or through one Relu/LeakyRelu, which
// commute with a positive scale (f(s·x) = s·f(x)).
type eqPair struct {
	prod, cons *onnxpb.NodeProto
	out        string // prod's output, whose channel ranges are measured
}

// equalizePairs finds the Conv -> [Relu|LeakyRelu] -> Conv chains whose
// middle tensors have no other reader and whose consumer is an ordinary
// (group 1) or depthwise Conv over exactly the producer's channels:
// MobileNet's and ShuffleNet's 1×1 -> depthwise -> 1×1 blocks.
func equalizePairs(g *onnxpb.GraphProto, exclude []string) []eqPair {
	ix := graph.NewIndex(g)
	excluded := map[string]bool{}
	for _, n := range exclude {
		excluded[n] = true
	}
	soleConsumer := func(t string) *onnxpb.NodeProto {
		if ix.IsGraphOutput(t) {
			return nil
		}
		if c := ix.Consumers(t); len(c) == 1 {
			return c[0]
		}
		return nil
	}
	conv := func(n *onnxpb.NodeProto) *onnxpb.TensorProto {
		if n == nil || n.GetOpType() != "Conv" || n.GetDomain() != "" || excluded[n.GetName()] || len(n.GetInput()) < 2 {
			return nil
		}
		w := ix.Initializer(n.GetInput()[1])
		if w == nil || len(w.GetDims()) < 3 || len(ix.Consumers(w.GetName())) != 1 {
			return nil
		}
		if len(n.GetInput()) > 2 && n.GetInput()[2] != "" {
			b := ix.Initializer(n.GetInput()[2])
			if b == nil || len(ix.Consumers(b.GetName())) != 1 {
				return nil
			}
		}
		return w
	}
	var pairs []eqPair
	for _, p := range g.GetNode() {
		wp := conv(p)
		if wp == nil {
			continue
		}
		out := p.GetOutput()[0]
		next := soleConsumer(out)
		if next != nil && (next.GetOpType() == "Relu" || next.GetOpType() == "LeakyRelu") {
			next = soleConsumer(next.GetOutput()[0])
		}
		wc := conv(next)
		if wc == nil || next == p {
			continue
		}
		ch := wp.GetDims()[0]
		group := graph.AttrInt(next, "group", 1)
		switch {
		case group == 1 && wc.GetDims()[1] == ch:
		case group == ch && wc.GetDims()[1] == 1 && wc.GetDims()[0]%ch == 0:
		default:
			continue
		}
		pairs = append(pairs, eqPair{prod: p, cons: next, out: out})
	}
	return pairs
}

// equalize is cross-layer equalisation aimed at activations (after Nagel
// et al., "Data-Free Quantization", 2019, and SmoothQuant's migration
// strength): a per-tensor 8-bit activation gives a channel whose values
// span a tenth of the tensor's range only a tenth of the 256 levels, so
// that channel's rounding error is ten times larger relative to its
// signal. For every Conv pair equalizePairs finds, each channel c of the
// producer's output is multiplied by s_c = (R/R_c)^alpha, R_c being its
// range on the calibration samples and R the largest (so the tensor's
// range does not grow), through the producer's weights and bias, and
// divided back out of the consumer's weights: the float model computes
// the same function. alpha = 1 equalises the activations fully and moves
// the spread into the consumer's weights; per-channel weight scales absorb
// it entirely for a depthwise consumer. It returns the pairs equalised.
func equalize(m *onnxpb.ModelProto, samples [][]models.Tensor, alpha float64, opts *Options) (int, error) {
	g := m.GetGraph()
	pairs := equalizePairs(g, opts.Exclude)
	if len(pairs) == 0 || len(samples) == 0 {
		return 0, nil
	}
	names := make([]string, len(pairs))
	for i, p := range pairs {
		names[i] = p.out
	}
	co := *opts
	co.Method, co.Progress, co.MaxSamples = MinMax, nil, 0
	st, _, _, err := calibrate(m, names, FromSamples(samples), &co, 0)
	if err != nil {
		return 0, fmt.Errorf("equalisation: %w", err)
	}
	ix := graph.NewIndex(g)
	done := 0
	for _, p := range pairs {
		s := st[p.out]
		if s == nil || s.chMin == nil {
			continue
		}
		var lo, hi float64
		for c := range s.chMin {
			lo, hi = min(lo, s.chMin[c]), max(hi, s.chMax[c])
		}
		scale := make([]float64, len(s.chMin))
		for c := range scale {
			f := math.Inf(1)
			if s.chMax[c] > 0 {
				f = min(f, hi/s.chMax[c])
			}
			if s.chMin[c] < 0 {
				f = min(f, lo/s.chMin[c])
			}
			if math.IsInf(f, 1) || f < 1 {
				f = 1
			}
			scale[c] = min(math.Pow(f, alpha), equalizeMaxScale)
		}
		if err := scaleConv(ix, p.prod, scale, false); err != nil {
			return done, err
		}
		if err := scaleConv(ix, p.cons, scale, true); err != nil {
			return done, err
		}
		done++
	}
	return done, nil
}

// scaleConv multiplies a Conv's output channels (weights and bias) by
// scale, or, with input set, divides its input channels' weights by it.
func scaleConv(ix *graph.Index, n *onnxpb.NodeProto, scale []float64, input bool) error {
	w := ix.Initializer(n.GetInput()[1])
	data, err := graph.Floats(w)
	if err != nil {
		return fmt.Errorf("equalisation, Conv %q: %w", n.GetName(), err)
	}
	dims := w.GetDims()
	m, cg := int(dims[0]), int(dims[1])
	k := len(data) / (m * cg)
	group := int(graph.AttrInt(n, "group", 1))
	for o := range m {
		for c := range cg {
			var f float64
			switch {
			case !input:
				f = scale[o]
			case group == 1:
				f = 1 / scale[c]
			default: // depthwise: output o reads input channel o/(m/group)
				f = 1 / scale[o/(m/group)]
			}
			for j := range k {
				i := (o*cg+c)*k + j
				data[i] = float32(float64(data[i]) * f)
			}
		}
	}
	replaceFloats(w, data)
	if input || len(n.GetInput()) < 3 || n.GetInput()[2] == "" {
		return nil
	}
	b := ix.Initializer(n.GetInput()[2])
	bd, err := graph.Floats(b)
	if err != nil || len(bd) != len(scale) {
		return fmt.Errorf("equalisation, Conv %q bias: %w", n.GetName(), err)
	}
	for i := range bd {
		bd[i] = float32(float64(bd[i]) * scale[i])
	}
	replaceFloats(b, bd)
	return nil
}

// replaceFloats gives t new float data (same name and shape).
func replaceFloats(t *onnxpb.TensorProto, data []float32) {
	n := graph.FloatTensor(t.GetName(), t.GetDims(), data)
	proto.Reset(t)
	proto.Merge(t, n)
}

// drain reads every sample of calib (up to limit when positive) into
// memory, for the passes that need the data more than once.
func drain(calib Calibrator, limit int) ([][]models.Tensor, error) {
	if calib == nil {
		return nil, errors.New("static quantisation needs calibration data")
	}
	var out [][]models.Tensor
	for limit <= 0 || len(out) < limit {
		s, err := calib.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("calibration sample %d: %w", len(out)+1, err)
		}
		out = append(out, s)
	}
	return out, nil
}
