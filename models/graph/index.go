package graph

import (
	"fmt"
	"strconv"

	"github.com/edgeflow/edgeflow/models/onnxpb"
)

// Index answers questions about one graph: which initializer has a name,
// which node produces a tensor and which nodes consume it. It is a snapshot:
// after editing the graph, call Rebuild (or make a new Index).
type Index struct {
	G *onnxpb.GraphProto

	inits     map[string]*onnxpb.TensorProto
	producers map[string]*onnxpb.NodeProto
	consumers map[string][]*onnxpb.NodeProto
	inputs    map[string]bool
	outputs   map[string]bool
	names     map[string]bool // every tensor and node name, for NewName
	counter   int
}

// NewIndex indexes g.
func NewIndex(g *onnxpb.GraphProto) *Index {
	ix := &Index{G: g}
	ix.Rebuild()
	return ix
}

// Rebuild re-reads the graph after it was edited.
func (ix *Index) Rebuild() {
	g := ix.G
	ix.inits = make(map[string]*onnxpb.TensorProto, len(g.GetInitializer()))
	ix.producers = map[string]*onnxpb.NodeProto{}
	ix.consumers = map[string][]*onnxpb.NodeProto{}
	ix.inputs = map[string]bool{}
	ix.outputs = map[string]bool{}
	if ix.names == nil {
		ix.names = map[string]bool{}
	}
	for _, t := range g.GetInitializer() {
		ix.inits[t.GetName()] = t
		ix.names[t.GetName()] = true
	}
	for _, vi := range g.GetInput() {
		ix.inputs[vi.GetName()] = true
		ix.names[vi.GetName()] = true
	}
	for _, vi := range g.GetOutput() {
		ix.outputs[vi.GetName()] = true
		ix.names[vi.GetName()] = true
	}
	for _, n := range g.GetNode() {
		ix.names[n.GetName()] = true
		for _, out := range n.GetOutput() {
			if out != "" {
				ix.producers[out] = n
				ix.names[out] = true
			}
		}
		for _, in := range n.GetInput() {
			if in != "" {
				ix.consumers[in] = append(ix.consumers[in], n)
				ix.names[in] = true
			}
		}
		// Tensors a subgraph reads from the enclosing scope count as
		// consumed by the node that owns the subgraph.
		for _, name := range outerReads(n) {
			ix.consumers[name] = append(ix.consumers[name], n)
		}
	}
}

// Initializer returns the initializer called name, or nil.
func (ix *Index) Initializer(name string) *onnxpb.TensorProto { return ix.inits[name] }

// Producer returns the node whose output is name, or nil for graph inputs,
// initializers and unknown names.
func (ix *Index) Producer(name string) *onnxpb.NodeProto { return ix.producers[name] }

// Consumers returns the nodes that read name, in graph order.
func (ix *Index) Consumers(name string) []*onnxpb.NodeProto { return ix.consumers[name] }

// IsGraphInput reports whether name is a graph input that is not also an
// initializer (older IRs list initializers as inputs too).
func (ix *Index) IsGraphInput(name string) bool { return ix.inputs[name] && ix.inits[name] == nil }

// IsGraphOutput reports whether name is a graph output.
func (ix *Index) IsGraphOutput(name string) bool { return ix.outputs[name] }

// NewName returns a name based on base that no tensor or node uses yet, and
// reserves it.
func (ix *Index) NewName(base string) string {
	if !ix.names[base] {
		ix.names[base] = true
		return base
	}
	for {
		ix.counter++
		name := base + "_" + strconv.Itoa(ix.counter)
		if !ix.names[name] {
			ix.names[name] = true
			return name
		}
	}
}

// AddInitializer adds t to the graph and the index.
func (ix *Index) AddInitializer(t *onnxpb.TensorProto) {
	ix.G.Initializer = append(ix.G.Initializer, t)
	ix.inits[t.GetName()] = t
	ix.names[t.GetName()] = true
}

// RemoveUnused drops initializers (and their graph-input entries) that no
// node reads and that are not graph outputs. It returns how many it removed.
func (ix *Index) RemoveUnused() int {
	ix.Rebuild()
	kept := ix.G.Initializer[:0]
	removed := map[string]bool{}
	for _, t := range ix.G.Initializer {
		if len(ix.consumers[t.GetName()]) > 0 || ix.outputs[t.GetName()] {
			kept = append(kept, t)
		} else {
			removed[t.GetName()] = true
		}
	}
	ix.G.Initializer = kept
	if len(removed) > 0 {
		ins := ix.G.Input[:0]
		for _, vi := range ix.G.Input {
			if !removed[vi.GetName()] {
				ins = append(ins, vi)
			}
		}
		ix.G.Input = ins
		vis := ix.G.ValueInfo[:0]
		for _, vi := range ix.G.ValueInfo {
			if !removed[vi.GetName()] {
				vis = append(vis, vi)
			}
		}
		ix.G.ValueInfo = vis
	}
	ix.Rebuild()
	return len(removed)
}

// TopoSort orders the graph's nodes so that every node comes after the
// producers of its inputs, keeping the existing order where it already
// holds (a stable Kahn sort). It fails on a cycle, on an input that
// nothing provides, on a node without outputs, and on a tensor with two
// producers (a node output named like another node's output, a graph input
// or an initializer): ONNX allows neither, and the passes after this one
// index producers by name without checking.
func TopoSort(g *onnxpb.GraphProto) error {
	avail := map[string]bool{"": true}
	for _, t := range g.GetInitializer() {
		avail[t.GetName()] = true
	}
	for _, vi := range g.GetInput() {
		avail[vi.GetName()] = true
	}
	nodes := g.GetNode()
	producer := map[string]int{}
	for i, n := range nodes {
		if len(n.GetOutput()) == 0 {
			return fmt.Errorf("node %q (%s) has no outputs", n.GetName(), n.GetOpType())
		}
		for _, out := range n.GetOutput() {
			if out == "" {
				continue // an optional output left out
			}
			if j, ok := producer[out]; ok {
				return fmt.Errorf("tensor %q is the output of two nodes, %q (%s) and %q (%s)",
					out, nodes[j].GetName(), nodes[j].GetOpType(), n.GetName(), n.GetOpType())
			}
			if avail[out] {
				return fmt.Errorf("node %q (%s) writes %q, which is already a graph input or initializer",
					n.GetName(), n.GetOpType(), out)
			}
			producer[out] = i
		}
	}
	for _, n := range nodes {
		for _, in := range append(append([]string(nil), n.GetInput()...), outerReads(n)...) {
			if _, ok := producer[in]; !ok && !avail[in] {
				return fmt.Errorf("node %q (%s) reads %q, which no node, input or initializer provides", n.GetName(), n.GetOpType(), in)
			}
		}
	}
	done := make([]bool, len(nodes))
	order := make([]*onnxpb.NodeProto, 0, len(nodes))
	for len(order) < len(nodes) {
		progressed := false
		for i, n := range nodes {
			if done[i] {
				continue
			}
			ready := true
			for _, in := range append(append([]string(nil), n.GetInput()...), outerReads(n)...) {
				if !avail[in] {
					ready = false
					break
				}
			}
			if !ready {
				continue
			}
			done[i], progressed = true, true
			order = append(order, n)
			for _, out := range n.GetOutput() {
				avail[out] = true
			}
		}
		if !progressed {
			for i, n := range nodes {
				if !done[i] {
					return fmt.Errorf("graph has a cycle through node %q (%s)", n.GetName(), n.GetOpType())
				}
			}
		}
	}
	g.Node = order
	return nil
}

// outerReads lists the names a node's subgraphs (If, Loop, Scan bodies)
// read from the enclosing scope.
func outerReads(n *onnxpb.NodeProto) []string {
	var out []string
	for _, a := range n.GetAttribute() {
		subs := a.GetGraphs()
		if a.GetG() != nil {
			subs = append(subs, a.GetG())
		}
		for _, sub := range subs {
			out = append(out, freeNames(sub)...)
		}
	}
	return out
}

func freeNames(g *onnxpb.GraphProto) []string {
	local := map[string]bool{"": true}
	for _, t := range g.GetInitializer() {
		local[t.GetName()] = true
	}
	for _, vi := range g.GetInput() {
		local[vi.GetName()] = true
	}
	for _, n := range g.GetNode() {
		for _, o := range n.GetOutput() {
			local[o] = true
		}
	}
	var out []string
	for _, n := range g.GetNode() {
		for _, in := range append(append([]string(nil), n.GetInput()...), outerReads(n)...) {
			if !local[in] {
				out = append(out, in)
			}
		}
	}
	return out
}
