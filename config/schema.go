package config

import (
	"errors"
	"fmt"
	"path/filepath"

	"github.com/edgeflow/edgeflow/component"
	"github.com/edgeflow/edgeflow/component/schema"
	"github.com/edgeflow/edgeflow/pipeline"
	"github.com/rs/zerolog"
)

// CheckFields works out, node by node in graph order, which fields the
// messages of each node have (each component's Spec.Schema: what a source
// declares or samples, what a stage makes of its input, fan-in merged), and
// returns what those checks found: expressions that name no field or use
// one with the wrong type. Nodes that did not parse cleanly, and components
// without a Schema, emit messages whose fields are unknown, so they cause no
// error downstream. It may read the files a replay source names, and dials
// nothing. The schemas are returned by node name.
func (f *File) CheckFields(log zerolog.Logger) (map[string]schema.Schema, []error) {
	c := &fieldCheck{f: f, log: log, dir: filepath.Dir(f.Path),
		out: map[string]schema.Schema{}, state: map[string]int{}, nodes: map[string]*Node{}}
	if f.Path == "" {
		c.dir = "."
	}
	for _, n := range f.Nodes {
		c.nodes[n.Name] = n
	}
	for _, n := range f.Nodes {
		if n.Kind != pipeline.KindSink {
			c.visit(n)
		}
	}
	return c.out, c.errs
}

type fieldCheck struct {
	f     *File
	log   zerolog.Logger
	dir   string
	nodes map[string]*Node
	out   map[string]schema.Schema
	state map[string]int // 1 while its inputs are visited, 2 when done
	errs  []error
}

func (c *fieldCheck) visit(n *Node) schema.Schema {
	switch c.state[n.Name] {
	case 1:
		return schema.Unknown() // a cycle, reported by the graph check
	case 2:
		return c.out[n.Name]
	}
	c.state[n.Name] = 1
	var ins []schema.Schema
	for _, name := range n.Inputs {
		if up, ok := c.nodes[name]; ok && up.Kind != pipeline.KindSink {
			ins = append(ins, c.visit(up))
		} else {
			ins = append(ins, schema.Unknown())
		}
	}
	out := schema.Unknown()
	if n.clean && n.Spec != nil && n.Config != nil && n.Spec.Schema != nil {
		res := &component.Resources{Logger: c.log.With().Str("node", n.Name).Logger(),
			Dir: c.dir, Node: n.Name, Pipeline: c.f.Name}
		s, err := schemaOf(n.Spec, n.Config, schema.Merge(ins...), res)
		if err != nil {
			for _, e := range unjoin(err) {
				c.errs = append(c.errs, c.f.positioned(e, n.Line, n.Column, n.path))
			}
		} else {
			out = s
		}
	}
	c.out[n.Name] = out
	c.state[n.Name] = 2
	return out
}

// schemaOf calls a spec's Schema, turning a panic into an error as
// construct does for constructors.
func schemaOf(spec *component.Spec, conf *component.Config, in schema.Schema, res *component.Resources) (s schema.Schema, err error) {
	defer func() {
		if r := recover(); r != nil {
			s, err = schema.Unknown(), fmt.Errorf("checking fields panicked: %v", r)
		}
	}()
	s, err = spec.Schema(conf, in, res)
	if err != nil {
		// What a stage emits after a problem is not known; unknown fields
		// keep its mistake from being reported again downstream.
		return schema.Unknown(), errors.Join(unjoin(err)...)
	}
	return s, nil
}
