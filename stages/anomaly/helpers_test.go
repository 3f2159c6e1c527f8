package anomaly

// Test helpers shared (by copy) across the component packages: building a
// component from YAML, a tracking source and a collecting sink.

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
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

// trackSource emits msgs, tracking each, and counts how they settle.
type trackSource struct {
	msgs          []*pipeline.Message
	acked, nacked atomic.Int64
	settledAt     []atomic.Int64 // per message: order in which it settled, from 1
	settles       atomic.Int64
	beforeEach    func(i int) // optional: called before emitting message i
}

func newTrackSource(msgs ...*pipeline.Message) *trackSource {
	return &trackSource{msgs: msgs, settledAt: make([]atomic.Int64, len(msgs))}
}

func (s *trackSource) settle(token any, err error) {
	n := s.settles.Add(1)
	s.settledAt[token.(int)].Store(n)
	if err != nil {
		s.nacked.Add(1)
	} else {
		s.acked.Add(1)
	}
}

func (s *trackSource) Run(ctx context.Context, out pipeline.SourceOutput) error {
	for i, m := range s.msgs {
		if s.beforeEach != nil {
			s.beforeEach(i)
		}
		m.Track(s.settle, i)
		if err := out.Emit(m); err != nil {
			return err
		}
	}
	return nil
}

// result is what a test pipeline delivered.
type result struct {
	out, dead []*pipeline.Message
}

// runStages runs src -> stages (in a chain) -> a collecting sink, with a
// collecting dead-letter sink.
func runStages(t testing.TB, src pipeline.Source, stages ...any) result {
	t.Helper()
	p := pipeline.New(pipeline.Options{Name: "test"})
	out, dead := &collect{}, &collect{}
	errs := []error{p.AddSource("src", src, pipeline.NodeOptions{})}
	prev := "src"
	for i, st := range stages {
		name := "stage" + string(rune('0'+i))
		errs = append(errs, p.AddStage(name, st, []string{prev}, pipeline.NodeOptions{}))
		prev = name
	}
	errs = append(errs, p.AddSink("out", out, []string{prev}, pipeline.NodeOptions{}),
		p.SetDeadLetter("dead", dead, pipeline.NodeOptions{}))
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := p.Run(ctx); err != nil {
		t.Fatal(err)
	}
	return result{out: out.all(), dead: dead.all()}
}
