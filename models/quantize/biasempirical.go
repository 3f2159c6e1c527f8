package quantize

import (
	"fmt"

	"github.com/edgeflow/edgeflow/models"
	"github.com/edgeflow/edgeflow/models/graph"
	"github.com/edgeflow/edgeflow/models/onnxpb"
)

// empiricalBiasSamples caps the calibration samples kept in memory for
// empirical bias correction.
const empiricalBiasSamples = 32

// empiricalBias is empirical bias correction (Nagel et al., "Data-Free
// Quantization", 2019, section 4.2; Finkelstein et al., "Fighting
// Quantization Bias With Bias", 2019): rounding the activations that feed
// a Conv, not only its weights, moves the mean of its output channels,
// and a detector turns such a shift of its class logits into scores that
// cross the threshold in one direction. Each round quantises a copy of
// the model with the corrections so far, runs it unfused (DequantizeLinear
// -> float Conv -> QuantizeLinear, what ORT's int8 kernels compute up to
// rounding) on the samples, and adds the difference between every Conv's
// float and quantised channel means to that Conv's correction. Later
// rounds see the earlier corrections upstream, so the corrections settle
// layer by layer. The result goes to q.corr, which rewrite adds to the
// biases before it quantises them.
func (q *quantizer) empiricalBias(samples [][]models.Tensor, rounds int) error {
	var convs []string // node names
	outs := map[string]string{}
	origs := map[string]*onnxpb.NodeProto{}
	for _, n := range q.nodes {
		if n.GetOpType() == "Conv" && len(n.GetOutput()) > 0 {
			convs = append(convs, n.GetName())
			outs[n.GetName()] = n.GetOutput()[0]
			origs[n.GetName()] = n
		}
	}
	// last are the Convs no other quantised Conv reads from: the
	// detector's output layers.
	last := map[string]bool{}
	ixm := graph.NewIndex(q.m.GetGraph())
	for _, c := range convs {
		last[c] = !readsToConv(ixm, outs[c], 8)
	}
	if len(convs) == 0 || len(samples) == 0 || rounds <= 0 {
		return nil
	}
	tensors := make([]string, 0, len(convs))
	for _, c := range convs {
		tensors = append(tensors, outs[c])
	}
	opts := *q.opts
	opts.Method, opts.Progress = MinMax, nil
	opts.MaxSamples = 0
	ref, _, _, err := calibrate(q.m, tensors, FromSamples(samples), &opts, 0)
	if err != nil {
		return fmt.Errorf("bias correction, float model: %w", err)
	}
	opts.Runtime.Optimization = "disable"
	q.corr = map[string][]float64{}
	for round := range rounds {
		probe := graph.Clone(q.m)
		pq := newQuantizer(probe, q.opts, &Report{Quantized: map[string]int{}, PerChannel: q.r.PerChannel})
		pq.plan()
		pq.params, pq.means, pq.corr = q.params, q.means, q.corr
		if err := pq.rewrite(); err != nil {
			return err
		}
		// rewrite renamed the outputs it quantised: the Conv's own output
		// is now the float tensor that feeds its QuantizeLinear.
		names := make([]string, 0, 2*len(pq.nodes))
		byNode, local := map[string]string{}, map[string]string{}
		preQ := map[string]string{} // DequantizeLinear output -> float tensor before its QuantizeLinear
		for _, p := range pq.pairs {
			preQ[p.dq.GetOutput()[0]] = p.float
		}
		for _, n := range pq.nodes {
			orig, ok := origs[n.GetName()]
			if !ok {
				continue
			}
			byNode[n.GetName()] = n.GetOutput()[0]
			names = append(names, n.GetOutput()[0])
			if !q.opts.biasLocal {
				continue
			}
			// The same Conv in float (float weight and bias) on the
			// float tensor its quantised input was rounded from: the
			// difference of the means is the shift this Conv's own
			// rounding (input and weights) adds.
			in := n.GetInput()[0]
			if f, ok := preQ[in]; ok {
				in = f
			}
			ins := append([]string{in}, orig.GetInput()[1:]...)
			ref := pq.ix.NewName(n.GetName() + "_float_ref")
			c := graph.Node("Conv", ref, ins, []string{ref})
			c.Attribute = orig.GetAttribute()
			probe.Graph.Node = append(probe.Graph.Node, c)
			local[n.GetName()] = ref
			names = append(names, ref)
		}
		if err := graph.TopoSort(probe.GetGraph()); err != nil {
			return fmt.Errorf("bias correction model: %w", err)
		}
		got, _, _, err := calibrate(probe, names, FromSamples(samples), &opts, 0)
		if err != nil {
			return fmt.Errorf("bias correction, round %d: %w", round+1, err)
		}
		var worst float64
		corr := make(map[string][]float64, len(convs))
		for _, c := range convs {
			rs, gs := ref[outs[c]], got[byNode[c]]
			if l, ok := local[c]; ok {
				rs = got[l]
			}
			if q.opts.biasLast && !last[c] {
				continue
			}
			if rs == nil || gs == nil {
				continue
			}
			want, have := rs.channelMeans(), gs.channelMeans()
			if want == nil || len(want) != len(have) {
				continue
			}
			d := make([]float64, len(want))
			for i := range want {
				d[i] = want[i] - have[i]
				if prev := q.corr[c]; prev != nil {
					d[i] += prev[i]
				}
				worst = max(worst, abs(want[i]-have[i]))
			}
			corr[c] = d
		}
		q.corr = corr
		log := q.opts.log()
		log.Debug().Int("round", round+1).Float64("largest_mean_shift", worst).Msg("empirical bias correction")
	}
	return nil
}

func abs(v float64) float64 {
	if v < 0 {
		return -v
	}
	return v
}

// corrected adds n's empirical bias correction (if any) to shift.
func (q *quantizer) corrected(name string, shift []float64) []float64 {
	c := q.corr[name]
	if c == nil {
		return shift
	}
	if shift == nil {
		return c
	}
	if len(shift) != len(c) {
		return shift
	}
	out := make([]float64, len(c))
	for i := range c {
		out[i] = shift[i] + c[i]
	}
	return out
}

// readsToConv reports whether a Conv reads t within depth nodes.
func readsToConv(ix *graph.Index, t string, depth int) bool {
	if depth == 0 {
		return false
	}
	for _, c := range ix.Consumers(t) {
		if c.GetOpType() == "Conv" {
			return true
		}
		for _, o := range c.GetOutput() {
			if readsToConv(ix, o, depth-1) {
				return true
			}
		}
	}
	return false
}
