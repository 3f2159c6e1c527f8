package quantize

import (
	"cmp"
	"fmt"
	"slices"

	"github.com/edgeflow/edgeflow/models"
	"github.com/edgeflow/edgeflow/models/graph"
	"github.com/edgeflow/edgeflow/models/onnxpb"
	"google.golang.org/protobuf/proto"
)

// maskInput is the graph input of the sensitivity model: one switch per
// quantised activation, 1 = quantised, 0 = float.
const maskInput = "edgeflow_quant_mask"

// sensitivity measures, for every calibrated activation, how much the
// model's output error (against float, on samples) drops when that one
// activation alone stays float while all the others are quantised, and
// removes the params of the keep activations whose float copy helps most.
//
// It runs one model: each activation's QDQ output is blended as
// x + m·(qdq(x) − x) with m read from a mask input, so every variant is a
// run with another mask instead of another session.
func (q *quantizer) sensitivity(samples [][]models.Tensor, keep int) error {
	probe := graph.Clone(q.m)
	pq := newQuantizer(probe, q.opts, &Report{Quantized: map[string]int{}, PerChannel: q.r.PerChannel})
	pq.plan()
	pq.params = q.params
	pq.means = q.means
	if err := pq.rewrite(); err != nil {
		return err
	}
	g := probe.GetGraph()
	n := len(pq.pairs)
	if n == 0 {
		return nil
	}
	g.Input = append(g.Input, &onnxpb.ValueInfoProto{Name: proto.String(maskInput), Type: &onnxpb.TypeProto{
		Value: &onnxpb.TypeProto_TensorType{TensorType: &onnxpb.TypeProto_Tensor{
			ElemType: proto.Int32(int32(onnxpb.TensorProto_FLOAT)),
			Shape:    &onnxpb.TensorShapeProto{Dim: []*onnxpb.TensorShapeProto_Dimension{{Value: &onnxpb.TensorShapeProto_Dimension_DimValue{DimValue: int64(n)}}}},
		}},
	}})
	for i, p := range pq.pairs {
		out := p.dq.Output[0]
		qdq := pq.ix.NewName(out + "_qdq")
		p.dq.Output[0] = qdq
		idx, m, d, e := pq.ix.NewName(out+"_mask_index"), pq.ix.NewName(out+"_mask"), pq.ix.NewName(out+"_qerr"), pq.ix.NewName(out+"_qerr_masked")
		pq.ix.AddInitializer(graph.Int64Tensor(idx, nil, []int64{int64(i)}))
		g.Node = append(g.Node,
			graph.Node("Gather", pq.ix.NewName(out+"_Gather"), []string{maskInput, idx}, []string{m}),
			graph.Node("Sub", pq.ix.NewName(out+"_Sub"), []string{qdq, p.float}, []string{d}),
			graph.Node("Mul", pq.ix.NewName(out+"_Mul"), []string{d, m}, []string{e}),
			graph.Node("Add", pq.ix.NewName(out+"_Add"), []string{p.float, e}, []string{out}))
	}
	probe.Graph.ValueInfo = nil
	if err := graph.TopoSort(g); err != nil {
		return fmt.Errorf("sensitivity model: %w", err)
	}
	data, err := graph.Encode(probe)
	if err != nil {
		return err
	}
	sess, err := models.NewSession(data, q.opts.Runtime)
	if err != nil {
		return fmt.Errorf("sensitivity model: %w", err)
	}
	defer sess.Close()
	info := sess.Info()
	inputs := make([][]models.Tensor, len(samples))
	for k, s := range samples {
		fitted, err := (&models.Info{Inputs: info.Inputs[:len(info.Inputs)-1]}).FitInputs(s)
		if err != nil {
			return err
		}
		inputs[k] = fitted
	}
	mask := make([]float32, n)
	runs := 0
	run := func() ([][]models.Tensor, error) {
		defer func() { runs++; q.opts.progress("sensitivity", runs, n+2) }()
		outs := make([][]models.Tensor, len(inputs))
		for k, in := range inputs {
			o, err := sess.Run(append(slices.Clone(in), models.Tensor{Shape: []int64{int64(n)}, Data: mask}))
			if err != nil {
				return nil, fmt.Errorf("sensitivity run: %w", err)
			}
			outs[k] = o
		}
		return outs, nil
	}
	ref, err := run() // every mask 0: the float model
	if err != nil {
		return err
	}
	// errorOf is the output error against float: the relative mean
	// square error of every output channel (the last axis: YOLOX's one
	// output holds boxes in pixels, objectness and 80 class scores side by
	// side), averaged, so that a 0..1 score counts as much as a box.
	errorOf := func(outs [][]models.Tensor) float64 {
		var total float64
		var count int
		for k := range outs {
			for j := range outs[k] {
				total += channelError(ref[k][j], outs[k][j], q.opts.SensitivityMetric)
				count++
			}
		}
		return total / float64(count)
	}
	for i := range mask {
		mask[i] = 1
	}
	all, err := run()
	if err != nil {
		return err
	}
	base := errorOf(all)
	gains := make([]float64, n)
	for i := range n {
		mask[i] = 0
		outs, err := run()
		if err != nil {
			return err
		}
		gains[i] = base - errorOf(outs)
		mask[i] = 1
	}
	order := make([]int, n)
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int { return cmp.Compare(gains[b], gains[a]) })
	for _, i := range order[:min(keep, n)] {
		if gains[i] <= 0 {
			break
		}
		act := pq.pairs[i].act
		delete(q.params, act)
		q.r.Skipped = append(q.r.Skipped, fmt.Sprintf("activation %q: kept float by sensitivity (output error %.3g with it quantised, %.3g without)", act, base, base-gains[i]))
	}
	q.r.SensitivityError = base
	return nil
}

// channelError is the mean over got's last-axis channels of their relative
// square error against ref (per tensor when metric is "tensor").
func channelError(ref, got models.Tensor, metric string) float64 {
	c := 1
	if n := len(ref.Shape); n > 0 && ref.Shape[n-1] > 0 && metric != "tensor" {
		c = int(ref.Shape[n-1])
	}
	se, sr := make([]float64, c), make([]float64, c)
	for i, v := range ref.Data {
		d := float64(got.Data[i]) - float64(v)
		se[i%c] += d * d
		sr[i%c] += float64(v) * float64(v)
	}
	var total float64
	for i := range se {
		total += se[i] / max(sr[i], 1e-12)
	}
	return total / float64(c)
}
