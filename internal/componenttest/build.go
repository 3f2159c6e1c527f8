package componenttest

import (
	"errors"
	"testing"

	"github.com/edgeflow/edgeflow/component"
	"github.com/edgeflow/edgeflow/pipeline"
	"github.com/rs/zerolog"
	"go.yaml.in/yaml/v3"
)

// File is the file name that Build gives the YAML in positioned errors
// ("test.yaml:1:12: ...").
const File = "test.yaml"

// Option changes how Build parses or constructs a component.
type Option func(*buildOptions)

type buildOptions struct {
	path string
	res  component.Resources
}

// WithPath sets the config path that errors name, such as "stages.infer"
// (by default the component's type name).
func WithPath(path string) Option { return func(o *buildOptions) { o.path = path } }

// WithDir sets the directory that relative paths in the config resolve
// against.
func WithDir(dir string) Option { return func(o *buildOptions) { o.res.Dir = dir } }

// WithLogger gives the component a logger; by default it logs nowhere.
func WithLogger(l zerolog.Logger) Option { return func(o *buildOptions) { o.res.Logger = l } }

// WithNode sets the pipeline and node names the component is built for
// (by default no pipeline name, and the type name as node name). Components
// label their metrics with them.
func WithNode(pipelineName, node string) Option {
	return func(o *buildOptions) { o.res.Pipeline, o.res.Node = pipelineName, node }
}

// WithConnections makes the given shared connections available by name.
func WithConnections(conns map[string]component.Connection) Option {
	return func(o *buildOptions) { o.res.Connections = conns }
}

// Build parses src as the YAML options of the registered component
// kind/name and constructs it. Config errors (joined) and constructor errors
// are returned, so tests can assert on them; an unregistered component or
// YAML that does not parse fails the test, as those are bugs in the test.
func Build(t testing.TB, kind pipeline.Kind, name, src string, opts ...Option) (any, error) {
	t.Helper()
	spec, ok := component.Lookup(kind, name)
	if !ok {
		t.Fatalf("%s %q is not registered", kind, name)
	}
	o := buildOptions{path: name, res: component.Resources{Logger: zerolog.Nop(), Node: name}}
	for _, opt := range opts {
		opt(&o)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(src), &doc); err != nil {
		t.Fatal(err)
	}
	var node *yaml.Node
	if len(doc.Content) > 0 {
		node = doc.Content[0]
	}
	conf, errs := component.Parse(spec.Fields, node, File, o.path, nil)
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return spec.New(conf, &o.res)
}

// MustBuild is Build for configs that must be valid: any error fails the
// test.
func MustBuild(t testing.TB, kind pipeline.Kind, name, src string, opts ...Option) any {
	t.Helper()
	c, err := Build(t, kind, name, src, opts...)
	if err != nil {
		t.Fatalf("build %s %q: %v", kind, name, err)
	}
	return c
}
