// Package prune removes weights from float32 ONNX models by magnitude, in
// Go:
//
//   - Unstructured sets the smallest weights (|w|, L1) of Conv, Gemm and
//     MatMul layers to zero, per layer or with one global threshold. The
//     tensors keep their shape: the file and the run time do not change
//     (ONNX Runtime has no sparse kernels for these ops), but the zeros
//     compress well and show how much a model tolerates.
//   - Structured removes whole output channels (Conv) and neurons
//     (Gemm/MatMul) with the smallest L1 norm and shrinks everything that
//     follows: biases, BatchNormalization and elementwise parameters, and
//     the next layer's input dimension. The model really gets smaller and
//     faster. A layer whose output reaches something that cannot be
//     shrunk safely (a residual Add with another tensor, a Concat, a
//     Reshape, a graph output) is left alone, and said why.
//
// Every result is loaded into ONNX Runtime before it is returned.
package prune

import (
	"errors"
	"fmt"
	"slices"

	"github.com/edgeflow/edgeflow/models"
	"github.com/edgeflow/edgeflow/models/graph"
	"github.com/edgeflow/edgeflow/models/onnxpb"
)

// ErrNotPrunable is wrapped by errors for models the pruner cannot handle
// (no layer with a constant float weight, or no layer whose channels can be
// removed safely).
var ErrNotPrunable = errors.New("model cannot be pruned")

// DefaultOps are the layer types pruned by default.
var DefaultOps = []string{"Conv", "Gemm", "MatMul"}

// Options tune pruning.
type Options struct {
	// Amount is the fraction of weights (unstructured) or of output
	// channels per layer (structured) to remove, in [0, 1).
	Amount float64
	// Global (unstructured only) ranks the weights of all layers together,
	// so that layers with many small weights lose more of them; otherwise
	// every layer loses Amount of its own weights.
	Global bool
	// Ops limits the layer types pruned (default DefaultOps).
	Ops []string
	// Exclude names nodes to leave untouched.
	Exclude []string
	// Runtime tunes the ONNX Runtime session the result is checked with.
	Runtime models.Options
	// Progress, if set, is called after each layer with how many are done
	// out of how many.
	Progress func(done, total int)
}

func (o *Options) progress(done, total int) {
	if o.Progress != nil {
		o.Progress(done, total)
	}
}

func (o *Options) defaults() error {
	if o.Amount < 0 || o.Amount >= 1 {
		return fmt.Errorf("prune amount %v must be in [0, 1)", o.Amount)
	}
	if len(o.Ops) == 0 {
		o.Ops = DefaultOps
	}
	for _, op := range o.Ops {
		if !slices.Contains(DefaultOps, op) {
			return fmt.Errorf("cannot prune %s layers (want some of %v)", op, DefaultOps)
		}
	}
	return nil
}

// Layer reports what pruning did to one layer.
type Layer struct {
	Node   string `json:"node"`
	Op     string `json:"op"`
	Weight string `json:"weight"`
	// Params is the weight's size after pruning, Zeros how many of its
	// values are zero, Sparsity = Zeros/Params.
	Params   int64   `json:"params"`
	Zeros    int64   `json:"zeros"`
	Sparsity float64 `json:"sparsity"`
	// ChannelsBefore/After count output channels (structured only).
	ChannelsBefore int `json:"channels_before,omitempty"`
	ChannelsAfter  int `json:"channels_after,omitempty"`
}

// Report says what pruning did.
type Report struct {
	Mode   string  `json:"mode"`
	Amount float64 `json:"amount"`
	Layers []Layer `json:"layers"`
	// Skipped lists layers left alone, with the reason.
	Skipped []string `json:"skipped,omitempty"`
	// ParamsBefore/After count the values of every float initializer.
	ParamsBefore int64 `json:"params_before"`
	ParamsAfter  int64 `json:"params_after"`
	// Sparsity is the share of zeros over all pruned layers' weights.
	Sparsity   float64 `json:"sparsity"`
	SizeBefore int64   `json:"size_before"`
	SizeAfter  int64   `json:"size_after"`
}

// String summarises the report in one line.
func (r *Report) String() string {
	return fmt.Sprintf("%s %.0f%%: %d layers, sparsity %.1f%%, params %d -> %d (%.1f%%), %d -> %d bytes (%.1f%%)",
		r.Mode, 100*r.Amount, len(r.Layers), 100*r.Sparsity, r.ParamsBefore, r.ParamsAfter,
		100*float64(r.ParamsAfter)/float64(max(r.ParamsBefore, 1)), r.SizeBefore, r.SizeAfter,
		100*float64(r.SizeAfter)/float64(max(r.SizeBefore, 1)))
}

// prepare validates the model, measures it and returns a sorted copy.
func prepare(m *onnxpb.ModelProto, opts *Options, r *Report) (*onnxpb.ModelProto, error) {
	if m == nil || m.GetGraph() == nil {
		return nil, fmt.Errorf("%w: no graph", ErrNotPrunable)
	}
	if err := opts.defaults(); err != nil {
		return nil, err
	}
	r.Amount = opts.Amount
	data, err := graph.Encode(m)
	if err != nil {
		return nil, err
	}
	r.SizeBefore = int64(len(data))
	r.ParamsBefore = floatParams(m.GetGraph())
	out := graph.Clone(m)
	if err := graph.TopoSort(out.GetGraph()); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNotPrunable, err)
	}
	return out, nil
}

// finish drops unused initializers, forgets stale shapes, checks that ONNX
// Runtime accepts the result and fills in the sizes and sparsity.
func finish(m *onnxpb.ModelProto, r *Report, opts *Options) error {
	ix := graph.NewIndex(m.GetGraph())
	ix.RemoveUnused()
	// Recorded shapes of intermediate tensors are stale once channels go;
	// ORT infers them again.
	m.Graph.ValueInfo = nil
	if err := graph.TopoSort(m.GetGraph()); err != nil {
		return fmt.Errorf("pruned graph: %w", err)
	}
	data, err := graph.Encode(m)
	if err != nil {
		return err
	}
	r.SizeAfter = int64(len(data))
	r.ParamsAfter = floatParams(m.GetGraph())
	var zeros, params int64
	for _, l := range r.Layers {
		zeros += l.Zeros
		params += l.Params
	}
	if params > 0 {
		r.Sparsity = float64(zeros) / float64(params)
	}
	sess, err := models.NewSession(data, opts.Runtime)
	if err != nil {
		return fmt.Errorf("ONNX Runtime rejects the pruned model (this is a pruner bug; the input model was not changed): %w", err)
	}
	return sess.Close()
}

// floatParams counts the values of a graph's float initializers.
func floatParams(g *onnxpb.GraphProto) int64 {
	var n int64
	for _, t := range g.GetInitializer() {
		switch graph.DataType(t) {
		case onnxpb.TensorProto_FLOAT, onnxpb.TensorProto_DOUBLE, onnxpb.TensorProto_FLOAT16:
			n += graph.Elements(t.GetDims())
		}
	}
	return n
}

// candidates returns the layers of the chosen types with a constant float
// weight, in graph order, noting in r why others are skipped.
func candidates(m *onnxpb.ModelProto, ix *graph.Index, opts *Options, r *Report) []*onnxpb.NodeProto {
	var out []*onnxpb.NodeProto
	for _, n := range m.GetGraph().GetNode() {
		op := n.GetOpType()
		if !slices.Contains(opts.Ops, op) || n.GetDomain() != "" {
			continue
		}
		if slices.Contains(opts.Exclude, n.GetName()) {
			r.Skipped = append(r.Skipped, fmt.Sprintf("%s %q: excluded", op, n.GetName()))
			continue
		}
		if len(n.GetInput()) < 2 {
			continue
		}
		w := ix.Initializer(n.GetInput()[1])
		if w == nil {
			r.Skipped = append(r.Skipped, fmt.Sprintf("%s %q: its weight is not a constant", op, n.GetName()))
			continue
		}
		if graph.DataType(w) != onnxpb.TensorProto_FLOAT {
			r.Skipped = append(r.Skipped, fmt.Sprintf("%s %q: its weight is %s, not float32", op, n.GetName(), graph.DataType(w)))
			continue
		}
		out = append(out, n)
	}
	return out
}

func countZeros(w []float32) int64 {
	var n int64
	for _, v := range w {
		if v == 0 {
			n++
		}
	}
	return n
}
