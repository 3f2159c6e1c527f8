package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/edgeflow/edgeflow/component"
	"github.com/edgeflow/edgeflow/pipeline"
	"go.yaml.in/yaml/v3"
)

// Load reads the pipeline file at path and parses it (see Parse).
func Load(path string) (*File, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err // the path is already in the message
		}
		return nil, &component.Error{File: path, Msg: fmt.Sprintf("cannot read the pipeline file: %v", err)}
	}
	return Parse(data, path)
}

// Parse parses and validates a pipeline definition; path only labels errors
// and anchors relative paths. It reports every problem it finds, as an
// errors.Join of *component.Error sorted by position, and returns a nil File
// if there is any.
func Parse(data []byte, path string) (*File, error) {
	p := &parser{file: path, names: map[string]*Node{}}
	f := p.parse(data)
	p.dropEcho()
	if len(p.errs) > 0 {
		sortErrors(p.errs)
		return nil, errors.Join(p.errs...)
	}
	return f, nil
}

// parser holds the state of one Parse call.
type parser struct {
	file  string
	errs  []error
	names map[string]*Node // every node by name, to catch duplicates
	conns map[string]*Connection
	// broken lists nodes whose `input:` could not be read, so that the
	// graph check does not also call them unfed.
	broken map[*Node]bool
	// envErrs counts the leading errors that are about ${VAR} expansion.
	envErrs int
}

// dropEcho removes errors about a scalar whose ${VAR} could not be
// expanded: "want an integer, got the string "${PORT}"" only repeats it.
func (p *parser) dropEcho() {
	if p.envErrs == 0 {
		return
	}
	at := map[[2]int]bool{}
	for _, e := range p.errs[:p.envErrs] {
		if ce, ok := e.(*component.Error); ok {
			at[[2]int{ce.Line, ce.Column}] = true
		}
	}
	out := p.errs[:p.envErrs]
	for _, e := range p.errs[p.envErrs:] {
		if ce, ok := e.(*component.Error); ok && at[[2]int{ce.Line, ce.Column}] {
			continue
		}
		out = append(out, e)
	}
	p.errs = out
}

func (p *parser) errorf(n *yaml.Node, key, format string, args ...any) {
	e := &component.Error{File: p.file, Key: key, Msg: fmt.Sprintf(format, args...)}
	if n != nil {
		e.Line, e.Column = n.Line, n.Column
	}
	p.errs = append(p.errs, e)
}

func (p *parser) parse(data []byte) *File {
	root := p.decode(data)
	if root == nil {
		return nil
	}
	expandEnv(root, p.file, "", &p.errs)
	p.envErrs = len(p.errs)

	f := &File{Path: p.file}
	top, errs := component.Parse(TopLevelFields(), root, p.file, "", sectionKeys)
	for _, e := range errs {
		// component.Parse joins keys as path + "." + key; the top level
		// has no path.
		if ce, ok := e.(*component.Error); ok {
			ce.Key = strings.TrimPrefix(ce.Key, ".")
		}
		p.errs = append(p.errs, e)
	}
	f.Name = strings.TrimSuffix(filepath.Base(p.file), filepath.Ext(p.file))
	if top.Given("name") {
		f.Name = top.String("name")
	}
	f.Buffer = top.Int("buffer")
	f.DrainTimeout = top.Duration("drain_timeout")
	f.Logging.Level, f.Logging.Format = DefaultLogLevel, DefaultLogFormat
	if l := top.Object("logging"); l != nil {
		f.Logging.Level, f.Logging.Format = l.String("level"), l.String("format")
	}
	f.Metrics.Enabled, f.Metrics.Listen = true, DefaultMetricsListen
	if m := top.Object("metrics"); m != nil {
		f.Metrics.Enabled, f.Metrics.Listen = m.Bool("enabled"), m.String("listen")
	}

	sections := p.sections(root)
	p.conns = map[string]*Connection{}
	p.broken = map[*Node]bool{}
	p.each(sections["connections"], "connections", func(k, v *yaml.Node, path string) {
		before := len(p.errs)
		if c := p.connection(k, v, path); c != nil {
			c.clean = len(p.errs) == before
			f.Connections = append(f.Connections, c)
		}
	})
	for _, sec := range nodeSections {
		p.each(sections[sec.name], sec.name, func(k, v *yaml.Node, path string) {
			before := len(p.errs)
			if n := p.node(sec.kind, false, k, v, path); n != nil {
				n.clean = len(p.errs) == before
				f.Nodes = append(f.Nodes, n)
			}
		})
	}
	if dl := sections["dead_letter"]; dl[0] != nil && !isNull(deref(dl[1])) {
		before := len(p.errs)
		f.DeadLetter = p.node(pipeline.KindSink, true, dl[0], deref(dl[1]), DeadLetterName)
		if f.DeadLetter != nil {
			f.DeadLetter.clean = len(p.errs) == before
		}
	}
	p.checkGraph(f, root, sections)
	return f
}

// decode parses the YAML text into the root mapping, or reports why not.
func (p *parser) decode(data []byte) (root *yaml.Node) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := safeDecode(dec, &doc); err != nil {
		if err == io.EOF {
			p.errorf(nil, "", "the file is empty: a pipeline needs at least `sources:` and `sinks:`")
		} else {
			p.syntaxError(err)
		}
		return nil
	}
	var extra yaml.Node
	switch err := safeDecode(dec, &extra); {
	case err == nil:
		p.errorf(&extra, "", "the file holds more than one YAML document (---); a pipeline file holds one")
	case err != io.EOF:
		p.syntaxError(err)
	}
	root = &doc
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = root.Content[0]
	}
	if root.Kind != yaml.MappingNode {
		p.errorf(root, "", "a pipeline file must be a mapping of keys (name, sources, stages, sinks, ...), got %s", component.Describe(root))
		return nil
	}
	return root
}

// safeDecode is Decoder.Decode that turns a panic in the YAML library into
// an error: a bad file must not take the process down.
func safeDecode(dec *yaml.Decoder, n *yaml.Node) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("yaml: cannot parse: %v", r)
		}
	}()
	return dec.Decode(n)
}

var yamlLine = regexp.MustCompile(`^yaml: line (\d+): `)

// parserProblems are the messages of yaml.v3's parser (as opposed to its
// scanner). For these it prints the 0-based line of a mark, so the 1-based
// line is one more; for scanner problems it adds the one itself.
var parserProblems = map[string]bool{
	"did not find expected <stream-start>":   true,
	"did not find expected <document start>": true,
	"did not find expected node content":     true,
	"did not find expected '-' indicator":    true,
	"did not find expected key":              true,
	"did not find expected ',' or '}'":       true,
	"did not find expected ',' or ']'":       true,
	"found duplicate %YAML directive":        true,
	"found incompatible YAML document":       true,
	"found duplicate %TAG directive":         true,
	"found undefined tag handle":             true,
}

// syntaxError turns a yaml.v3 error ("yaml: line 3: mapping values are not
// allowed in this context") into a positioned error. yaml.v3 gives no
// column, so the position is the start of the line, and the line is where
// the parser noticed the problem, which can be after the actual mistake
// (an unclosed bracket is noticed where the text ends).
func (p *parser) syntaxError(err error) {
	msg := err.Error()
	e := &component.Error{File: p.file}
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		msg = msg[len(m[0]):]
		e.Line, _ = strconv.Atoi(m[1])
		e.Column = 1
		if parserProblems[msg] {
			e.Line++
		}
	} else {
		msg = strings.TrimPrefix(msg, "yaml: ")
	}
	e.Msg = "invalid YAML: " + msg
	p.errs = append(p.errs, e)
}

// sections returns the key and value nodes of each section present,
// reporting a section given twice.
func (p *parser) sections(root *yaml.Node) map[string][2]*yaml.Node {
	out := map[string][2]*yaml.Node{}
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		if !sectionKeys[k.Value] {
			continue
		}
		if _, dup := out[k.Value]; dup {
			p.errorf(k, k.Value, "key given twice")
			continue
		}
		out[k.Value] = [2]*yaml.Node{k, v}
	}
	return out
}

// each calls fn for every entry of a section mapping.
func (p *parser) each(sec [2]*yaml.Node, name string, fn func(k, v *yaml.Node, path string)) {
	k, v := sec[0], deref(sec[1])
	if k == nil || isNull(v) {
		return
	}
	if v.Kind != yaml.MappingNode {
		p.errorf(v, name, "want a mapping of name: {type: ..., ...}, got %s", component.Describe(v))
		return
	}
	for i := 0; i+1 < len(v.Content); i += 2 {
		ek, ev := v.Content[i], deref(v.Content[i+1])
		if ek.Kind != yaml.ScalarNode || strings.TrimSpace(ek.Value) == "" {
			p.errorf(ek, name, "want a name, got %s", component.Describe(ek))
			continue
		}
		fn(ek, ev, name+"."+ek.Value)
	}
}

// deref follows an alias to the node it names.
func deref(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode && n.Alias != nil && i < 16; i++ {
		n = n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool {
	return n == nil || (n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null")
}

// sortErrors orders errors by position so that validate reads top to
// bottom; errors about the whole file come first.
func sortErrors(errs []error) {
	pos := func(e error) (int, int) {
		if ce, ok := e.(*component.Error); ok {
			return ce.Line, ce.Column
		}
		return 0, 0
	}
	slices.SortStableFunc(errs, func(a, b error) int {
		la, ca := pos(a)
		lb, cb := pos(b)
		if la != lb {
			return la - lb
		}
		return ca - cb
	})
}
