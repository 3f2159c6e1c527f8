package config

import (
	"strings"

	"github.com/edgeflow/edgeflow/internal/didyoumean"
	"github.com/edgeflow/edgeflow/pipeline"
	"go.yaml.in/yaml/v3"
)

// checkGraph checks the shape of the pipeline with the engine's rules
// (pipeline.Pipeline.Validate), but points each problem at the `input:`
// entry or the node at fault, and reports every cycle rather than one.
func (p *parser) checkGraph(f *File, root *yaml.Node, sections map[string][2]*yaml.Node) {
	var sources, sinks int
	producers := map[string]*Node{}
	var producerNames []string
	for _, n := range f.Nodes {
		switch n.Kind {
		case pipeline.KindSource:
			sources++
		case pipeline.KindSink:
			sinks++
		}
		if n.Kind != pipeline.KindSink {
			producers[n.Name] = n
			producerNames = append(producerNames, n.Name)
		}
	}
	// Empty pipeline: point at the section if it is there but empty.
	for _, c := range []struct {
		sec   string
		count int
	}{{"sources", sources}, {"sinks", sinks}} {
		if c.count > 0 || p.sectionBroken(sections, c.sec) {
			continue
		}
		at := root
		if k := sections[c.sec][0]; k != nil {
			at = k
		}
		p.errorf(at, c.sec, "the pipeline has no %s: add at least one under `%s:`", c.sec, c.sec)
	}

	all := map[string]*Node{}
	for _, n := range f.Nodes {
		all[n.Name] = n
	}
	if f.DeadLetter != nil {
		all[f.DeadLetter.Name] = f.DeadLetter
	}
	fed := map[string]bool{}
	// The nodes that unknown input names probably meant: an "unfed" error
	// for them would only repeat the typo.
	meant := map[string]bool{}
	for _, n := range f.Nodes {
		if n.Kind == pipeline.KindSource {
			continue
		}
		if len(n.Inputs) == 0 && !p.broken[n] {
			p.errorf(p.nodeKey(n), n.path, "the %s has no input: add `input:` with the name of a source or stage", n.Kind)
		}
		seen := map[string]bool{}
		for i, in := range n.Inputs {
			at := n.inputAt(i)
			key := n.path + ".input"
			up, ok := all[in]
			switch {
			case !ok:
				hint := didyoumean.Suggest(in, producerNames)
				if _, isConn := p.conns[in]; isConn {
					hint = " (" + quote(in) + " is a connection; name the source or stage that uses it)"
				}
				p.errorf(at, key, "no source or stage is named %q%s", in, hint)
				meant[closest(in, producerNames)] = true
			case up.Kind == pipeline.KindSink:
				p.errorf(at, key, "%q is a sink; only sources and stages can be inputs", in)
			case in == n.Name:
				p.errorf(at, key, "a node cannot be its own input")
			case seen[in]:
				p.errorf(at, key, "input %q is listed twice", in)
			}
			seen[in] = true
			fed[in] = true
		}
	}
	if sinks > 0 {
		for _, n := range f.Nodes {
			if n.Kind == pipeline.KindSink || fed[n.Name] || meant[n.Name] {
				continue
			}
			p.errorf(p.nodeKey(n), n.path, "the %s's output goes nowhere: no stage or sink names it as input", n.Kind)
		}
	}
	p.cycles(f.Nodes, producers)
}

// cycles reports each cycle among stages once, at the input entry that
// closes it.
func (p *parser) cycles(nodes []*Node, producers map[string]*Node) {
	const (
		unvisited = iota
		active
		done
	)
	state := map[*Node]int{}
	var stack []*Node
	var visit func(n *Node)
	visit = func(n *Node) {
		state[n] = active
		stack = append(stack, n)
		for i, in := range n.Inputs {
			up := producers[in]
			if up == nil || up == n {
				continue // reported as a bad input
			}
			switch state[up] {
			case active:
				// The stack runs downstream -> upstream; data flows from up
				// into n, then back down the stack to up.
				path := []string{up.Name}
				for j := len(stack) - 1; j >= 0 && stack[j] != up; j-- {
					path = append(path, stack[j].Name)
				}
				path = append(path, up.Name)
				p.errorf(n.inputAt(i), n.path+".input", "cycle: %s", strings.Join(path, " -> "))
			case unvisited:
				visit(up)
			}
		}
		stack = stack[:len(stack)-1]
		state[n] = done
	}
	for _, n := range nodes {
		if state[n] == unvisited {
			visit(n)
		}
	}
}

// sectionBroken reports whether a section was given but is not a mapping,
// which has been reported already.
func (p *parser) sectionBroken(sections map[string][2]*yaml.Node, name string) bool {
	v := deref(sections[name][1])
	return v != nil && !isNull(v) && v.Kind != yaml.MappingNode
}

// nodeKey is a node for errorf at the node's name.
func (p *parser) nodeKey(n *Node) *yaml.Node { return &yaml.Node{Line: n.Line, Column: n.Column} }

// inputAt is the position of the i-th input entry, or of the node.
func (n *Node) inputAt(i int) *yaml.Node {
	if i < len(n.inputsAt) {
		r := n.inputsAt[i]
		return &yaml.Node{Line: r.line, Column: r.column}
	}
	return &yaml.Node{Line: n.Line, Column: n.Column}
}

// closest is the name didyoumean.Suggest would suggest for name, or "".
func closest(name string, candidates []string) string {
	best, bestD := "", 3
	for _, c := range candidates {
		if d := didyoumean.Distance(name, c); d < bestD {
			best, bestD = c, d
		}
	}
	return best
}

func quote(s string) string { return `"` + s + `"` }
