package pipeline

import (
	"errors"
	"fmt"
	"slices"

	"github.com/edgeflow/edgeflow/internal/didyoumean"
)

// GraphError is a problem with the shape of a pipeline, tied to the node
// (and, where it applies, the input) at fault, so that a config loader can
// point at the line.
type GraphError struct {
	Node  string
	Input string // the offending input name, if the problem is an input
	Msg   string
}

func (e *GraphError) Error() string {
	if e.Input != "" {
		return fmt.Sprintf("node %q, input %q: %s", e.Node, e.Input, e.Msg)
	}
	return fmt.Sprintf("node %q: %s", e.Node, e.Msg)
}

// Validate checks the graph: inputs name existing sources or stages, every
// stage and sink has an input, every source and stage feeds something, and
// there are no cycles. It returns every problem found, joined; each is a
// *GraphError.
func (p *Pipeline) Validate() error {
	var errs []error
	bad := func(node, input, format string, args ...any) {
		errs = append(errs, &GraphError{Node: node, Input: input, Msg: fmt.Sprintf(format, args...)})
	}
	fed := map[string]bool{}
	for _, n := range p.order {
		switch {
		case n.kind == KindSource && len(n.inputs) > 0:
			bad(n.name, "", "a source takes no input")
		case n.kind != KindSource && len(n.inputs) == 0 && n != p.deadLetter:
			bad(n.name, "", "%s has no input", n.kind)
		case n == p.deadLetter && len(n.inputs) > 0:
			bad(n.name, "", "the dead-letter sink takes no input: failed messages reach it by themselves")
		}
		seen := map[string]bool{}
		for _, in := range n.inputs {
			up, ok := p.nodes[in]
			switch {
			case !ok:
				bad(n.name, in, "no source or stage is named %q%s", in, didyoumean.Suggest(in, p.producerNames()))
			case up.kind == KindSink:
				bad(n.name, in, "%q is a sink; only sources and stages can be inputs", in)
			case in == n.name:
				bad(n.name, in, "a node cannot be its own input")
			case seen[in]:
				bad(n.name, in, "input %q is listed twice", in)
			}
			seen[in] = true
			fed[in] = true
		}
	}
	for _, n := range p.order {
		if n.kind != KindSink && !fed[n.name] {
			bad(n.name, "", "the %s's output goes nowhere: no stage or sink names it as input", n.kind)
		}
	}
	if cyc := p.cycle(); cyc != nil {
		bad(cyc[0], "", "cycle: %s", formatCycle(cyc))
	}
	return errors.Join(errs...)
}

func (p *Pipeline) producerNames() []string {
	var names []string
	for _, n := range p.order {
		if n.kind != KindSink {
			names = append(names, n.name)
		}
	}
	return names
}

// cycle returns the nodes of one cycle, or nil, by depth-first search.
func (p *Pipeline) cycle() []string {
	const (
		unvisited = iota
		active
		done
	)
	state := map[string]int{}
	var stack []string
	var visit func(name string) []string
	visit = func(name string) []string {
		state[name] = active
		stack = append(stack, name)
		n := p.nodes[name]
		for _, in := range n.inputs {
			if _, ok := p.nodes[in]; !ok || in == name {
				continue // reported elsewhere
			}
			switch state[in] {
			case active:
				i := slices.Index(stack, in)
				return slices.Clone(stack[i:])
			case unvisited:
				if c := visit(in); c != nil {
					return c
				}
			}
		}
		stack = stack[:len(stack)-1]
		state[name] = done
		return nil
	}
	for _, n := range p.order {
		if state[n.name] == unvisited {
			if c := visit(n.name); c != nil {
				return c
			}
		}
	}
	return nil
}

func formatCycle(c []string) string {
	s := ""
	for i := len(c) - 1; i >= 0; i-- {
		s += c[i] + " -> "
	}
	return s + c[len(c)-1]
}
