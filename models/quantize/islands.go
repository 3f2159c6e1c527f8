package quantize

import (
	"fmt"
	"slices"

	"github.com/edgeflow/edgeflow/models/onnxpb"
)

// int8Runs reports whether ORT can run n as an int8 kernel with the
// activation parameters chosen so far: a quantised node whose activation
// inputs and (folded) output all have parameters.
func (q *quantizer) int8Runs(n *onnxpb.NodeProto, planned map[*onnxpb.NodeProto]bool) bool {
	if n == nil || !planned[n] {
		return false
	}
	rl := roles[n.GetOpType()]
	for i, in := range n.GetInput() {
		if in == "" || q.ix.Initializer(in) != nil {
			continue
		}
		if rl.all || slices.Contains(rl.acts, i) || i == rl.weight {
			if _, ok := q.params[in]; !ok {
				return false
			}
		}
	}
	if op := n.GetOpType(); op == "Gemm" || op == "MatMul" {
		return true // QGemm and MatMulIntegerToFloat take a float output
	}
	_, ok := q.params[q.foldedOutput(n)]
	return ok
}

// dropIslands removes the parameters of activations that no int8 kernel
// would read or write: when neither the node producing an activation nor
// any node reading it can run in int8 (because their other tensors stay
// float), its QuantizeLinear/DequantizeLinear pair would only add rounding
// error and two passes over the tensor, and split a float region into
// more islands for ORT to re-lay out (NCHWc reorders) at every border.
// The sensitivity analysis and the step limit leave such activations
// scattered through YOLOX's stem. Graph inputs and activations read by
// operators outside the quantised set (Resize, Slice, ...: ORT runs some
// of those on uint8 data) are kept. It repeats until nothing changes.
func (q *quantizer) dropIslands() {
	planned := map[*onnxpb.NodeProto]bool{}
	for _, n := range q.nodes {
		planned[n] = true
	}
	for changed := true; changed; {
		changed = false
		for _, name := range q.acts {
			if _, ok := q.params[name]; !ok || q.ix.Producer(name) == nil {
				continue
			}
			prod := q.ix.Producer(name)
			if !planned[prod] && !q.foldsInto(name) {
				continue // produced by an op outside the quantised set
			}
			useful := q.int8Runs(prod, planned) || q.int8Runs(q.folder(name), planned)
			for _, c := range q.ix.Consumers(name) {
				if !planned[c] || q.int8Runs(c, planned) {
					useful = true // read by an int8 kernel or an op outside the set
					break
				}
			}
			if !useful {
				delete(q.params, name)
				q.r.Skipped = append(q.r.Skipped, fmt.Sprintf("activation %q: no int8 kernel reads or writes it; kept float", name))
				changed = true
			}
		}
	}
}

// folder returns the quantised node whose folded output (through a Relu
// or Clip) is name, or nil.
func (q *quantizer) folder(name string) *onnxpb.NodeProto {
	prod := q.ix.Producer(name)
	if prod == nil || (prod.GetOpType() != "Relu" && prod.GetOpType() != "Clip") {
		return nil
	}
	for _, n := range q.nodes {
		if q.foldedOutput(n) == name {
			return n
		}
	}
	return nil
}

// foldsInto reports whether name is some quantised node's folded output.
func (q *quantizer) foldsInto(name string) bool { return q.folder(name) != nil }
