package config

import (
	"fmt"
	"strings"

	"github.com/edgeflow/edgeflow/component"
	"github.com/edgeflow/edgeflow/internal/didyoumean"
	"github.com/edgeflow/edgeflow/pipeline"
	"go.yaml.in/yaml/v3"
)

// nodeSections are the sections that hold nodes, in the order their nodes
// are listed in File.Nodes.
var nodeSections = []struct {
	name string
	kind pipeline.Kind
}{
	{"sources", pipeline.KindSource},
	{"stages", pipeline.KindStage},
	{"sinks", pipeline.KindSink},
}

// connection parses one entry of `connections:`.
func (p *parser) connection(k, v *yaml.Node, path string) *Connection {
	c := &Connection{Name: k.Value, Line: k.Line, Column: k.Column}
	if prev, dup := p.conns[c.Name]; dup {
		p.errorf(k, path, "connection %q is already defined at line %d", c.Name, prev.Line)
		return nil
	}
	p.conns[c.Name] = c
	if !p.isMapping(k, v, path, "connection") {
		return c
	}
	var known []string
	for _, s := range component.AllConnections() {
		known = append(known, s.Name)
	}
	typ, tnode := p.typeOf(k, v, path, "connection", known)
	if typ == "" {
		return c
	}
	spec, ok := component.LookupConnection(typ)
	if !ok {
		p.unknownType(tnode, path, "connection", typ, known)
		return c
	}
	c.Type, c.Spec = typ, spec
	cfg, errs := component.Parse(spec.Fields, v, p.file, path, map[string]bool{"type": true})
	p.errs = append(p.errs, errs...)
	c.Config = cfg
	return c
}

// node parses a source, stage or sink, or the dead-letter sink (dead). It
// returns the node even when it has problems, so that the graph check knows
// the name and does not report its users as dangling.
func (p *parser) node(kind pipeline.Kind, dead bool, k, v *yaml.Node, path string) *Node {
	n := &Node{Name: k.Value, Kind: kind, Line: k.Line, Column: k.Column, path: path}
	if dead {
		n.Name = DeadLetterName
	}
	if prev, dup := p.names[n.Name]; dup {
		p.errorf(k, path, "name %q is already used by %s (line %d); node names must be unique across sources, stages, sinks and dead_letter",
			n.Name, prev.path, prev.Line)
		return nil
	}
	p.names[n.Name] = n
	what := kind.String()
	if dead {
		what = "dead-letter sink"
	}
	if !p.isMapping(k, v, path, what) {
		p.broken[n] = true
		return n
	}
	known := component.Names(kind)
	typ, tnode := p.typeOf(k, v, path, kind.String(), known)
	var spec *component.Spec
	if typ != "" {
		var ok bool
		if spec, ok = component.Lookup(kind, typ); !ok {
			p.unknownType(tnode, path, kind.String(), typ, known)
		}
	}
	batching := spec != nil && spec.Batching
	common := commonFields(kind, dead, batching)
	skip := map[string]bool{"type": true}
	for _, f := range common {
		skip[f.Name] = true
	}
	// `batch:` on a component that does not batch gets its own message
	// rather than "unknown key", unless the component has a field so named.
	badBatch := kind != pipeline.KindSource && spec != nil && !batching && !hasField(spec.Fields, "batch")
	if badBatch {
		skip["batch"] = true
	}
	if dead {
		skip["input"] = true
	}
	if spec != nil {
		n.Type, n.Spec = typ, spec
		cfg, errs := component.Parse(spec.Fields, v, p.file, path, skip)
		p.errs = append(p.errs, errs...)
		n.Config = cfg
	}

	// The common keys are parsed by component.Parse too, from a mapping
	// that holds only them, so they get the same checks and messages.
	own := &yaml.Node{Kind: yaml.MappingNode, Line: v.Line, Column: v.Column}
	var inputNode *yaml.Node
	for i := 0; i+1 < len(v.Content); i += 2 {
		key, val := v.Content[i], v.Content[i+1]
		switch {
		case key.Value == "batch" && badBatch:
			p.errorf(key, path+".batch", "the %s type %q does not batch, so it takes no batch options%s",
				kind, typ, batchingHint(kind))
		case key.Value == "input" && dead:
			p.errorf(key, path+".input", "the dead-letter sink takes no input: failed messages reach it by themselves")
		case hasField(common, key.Value):
			own.Content = append(own.Content, key, val)
			if key.Value == "input" && inputNode == nil {
				inputNode = deref(val)
			}
		}
	}
	opts, errs := component.Parse(common, own, p.file, path, nil)
	p.errs = append(p.errs, errs...)
	if kind == pipeline.KindSource {
		return n
	}
	if !dead {
		if inputNode != nil && !opts.Has("input") {
			p.broken[n] = true
		}
		n.Inputs = opts.StringList("input")
		n.inputsAt = inputRefs(inputNode)
	}
	p.nodeOptions(n, opts)
	return n
}

// nodeOptions fills n.Options from the parsed common keys.
func (p *parser) nodeOptions(n *Node, opts *component.Config) {
	o := &n.Options
	if opts.Has("buffer") {
		o.Buffer = opts.Int("buffer")
	}
	o.Overflow, _ = pipeline.ParseOverflow(opts.String("overflow")) // the enum was checked
	o.Workers = opts.Int("workers")
	if n.Kind == pipeline.KindStage {
		o.Ordered = o.Workers > 1
		if opts.Has("ordered") {
			o.Ordered = opts.Bool("ordered")
		}
	}
	if n.Spec != nil && n.Spec.Batching {
		if b := opts.Object("batch"); b != nil {
			if b.Has("max_size") {
				o.BatchSize = b.Int("max_size")
			}
			if n.Kind == pipeline.KindStage {
				o.BatchDelay = b.Duration("max_delay")
			}
		}
	}
	if n.Kind == pipeline.KindSink {
		o.Retries, o.RetryBackoff = DefaultRetryMax, component.Dur(DefaultRetryBackoff)
		if r := opts.Object("retry"); r != nil {
			o.Retries, o.RetryBackoff = r.Int("max"), r.Duration("backoff")
		}
	}
}

// commonFields are the node keys this package parses, as they are checked:
// `type` is handled apart (its message lists the known types), and a
// missing `input` is left to the graph check, which says it better.
func commonFields(kind pipeline.Kind, dead, batching bool) []component.Field {
	var out []component.Field
	for _, f := range NodeFields(kind, batching) {
		switch {
		case f.Name == "type":
			continue
		case f.Name == "input" && dead:
			continue
		case f.Name == "input":
			f.Optional = true
		}
		out = append(out, f)
	}
	return out
}

// isMapping reports whether v, the value of a named entry, is a mapping,
// and reports it if not.
func (p *parser) isMapping(k, v *yaml.Node, path, what string) bool {
	if v != nil && v.Kind == yaml.MappingNode {
		return true
	}
	at := v
	if isNull(v) {
		at = k
	}
	p.errorf(at, path, "want a mapping with a `type:` and the %s's options, got %s", what, component.Describe(v))
	return false
}

// typeOf returns the value of the `type:` key of mapping v, or "" after
// reporting why there is none.
func (p *parser) typeOf(k, v *yaml.Node, path, what string, known []string) (string, *yaml.Node) {
	for i := 0; i+1 < len(v.Content); i += 2 {
		if v.Content[i].Value != "type" {
			continue
		}
		t := deref(v.Content[i+1])
		if t.Kind != yaml.ScalarNode || isNull(t) || t.Value == "" {
			p.errorf(t, path+".type", "want a %s type, got %s%s", what, component.Describe(t), knownList(what, known))
			return "", nil
		}
		return t.Value, t
	}
	p.errorf(k, path, "missing required key \"type\"%s", knownList(what, known))
	return "", nil
}

func (p *parser) unknownType(t *yaml.Node, path, what, typ string, known []string) {
	p.errorf(t, path+".type", "unknown %s type %q%s%s", what, typ, didyoumean.Suggest(typ, known), knownList(what, known))
}

func knownList(what string, known []string) string {
	if len(known) == 0 {
		return fmt.Sprintf("; no %s types are registered", what)
	}
	return fmt.Sprintf("; known %s types: %s", what, strings.Join(known, ", "))
}

func batchingHint(kind pipeline.Kind) string {
	var names []string
	for _, s := range component.All(kind) {
		if s.Batching {
			names = append(names, s.Name)
		}
	}
	if len(names) == 0 {
		return ""
	}
	return fmt.Sprintf(" (%s types that batch: %s)", kind, strings.Join(names, ", "))
}

func hasField(fields []component.Field, name string) bool {
	for _, f := range fields {
		if f.Name == name {
			return true
		}
	}
	return false
}

// inputRefs returns the entries of an `input:` value with their positions.
func inputRefs(n *yaml.Node) []inputRef {
	if n == nil {
		return nil
	}
	if n.Kind == yaml.ScalarNode {
		return []inputRef{{n.Value, n.Line, n.Column}}
	}
	var refs []inputRef
	for _, item := range n.Content {
		refs = append(refs, inputRef{item.Value, item.Line, item.Column})
	}
	return refs
}
