package generate

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/edgeflow/edgeflow/component"
	"github.com/edgeflow/edgeflow/pipeline"
	"github.com/rs/zerolog"
	"go.yaml.in/yaml/v3"
)

// build parses src as the YAML options of component kind/name and builds it.
func build(t testing.TB, kind pipeline.Kind, name, src string) (any, error) {
	t.Helper()
	spec, ok := component.Lookup(kind, name)
	if !ok {
		t.Fatalf("%s %q is not registered", kind, name)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(src), &doc); err != nil {
		t.Fatal(err)
	}
	var node *yaml.Node
	if len(doc.Content) > 0 {
		node = doc.Content[0]
	}
	conf, errs := component.Parse(spec.Fields, node, "test.yaml", name, nil)
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return spec.New(conf, &component.Resources{Logger: zerolog.Nop(), Node: name})
}

func mustBuild(t testing.TB, kind pipeline.Kind, name, src string) any {
	t.Helper()
	c, err := build(t, kind, name, src)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// collect is a sink that keeps what it is given.
type collect struct {
	mu   sync.Mutex
	msgs []*pipeline.Message
}

func (c *collect) Write(_ context.Context, m *pipeline.Message) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.msgs = append(c.msgs, m)
	return nil
}

func (c *collect) all() []*pipeline.Message {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]*pipeline.Message(nil), c.msgs...)
}

// runSource runs src into a collecting sink until it ends (or times out).
func runSource(t testing.TB, src pipeline.Source, timeout time.Duration) []*pipeline.Message {
	t.Helper()
	p := pipeline.New(pipeline.Options{Name: "test"})
	out := &collect{}
	if err := errors.Join(p.AddSource("src", src, pipeline.NodeOptions{}),
		p.AddSink("out", out, []string{"src"}, pipeline.NodeOptions{})); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := p.Run(ctx); err != nil {
		t.Fatal(err)
	}
	return out.all()
}
