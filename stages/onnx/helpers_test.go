package onnx

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/edgeflow/edgeflow/component"
	"github.com/edgeflow/edgeflow/pipeline"
	"github.com/rs/zerolog"
	"go.yaml.in/yaml/v3"
)

// build constructs the stage from YAML as a pipeline file would.
func build(tb testing.TB, dir, src string) (*Stage, error) {
	tb.Helper()
	spec, ok := component.Lookup(pipeline.KindStage, "onnx")
	if !ok {
		tb.Fatal("onnx stage not registered")
	}
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(src), &doc); err != nil {
		tb.Fatal(err)
	}
	conf, errs := component.Parse(spec.Fields, doc.Content[0], "test.yaml", "stages.infer", nil)
	if len(errs) > 0 {
		return nil, errs[0]
	}
	comp, err := spec.New(conf, &component.Resources{Dir: dir, Node: "infer", Pipeline: "test", Logger: zerolog.Nop()})
	if err != nil {
		return nil, err
	}
	return comp.(*Stage), nil
}

// feed is a source that emits prepared messages, tracking their fate. If
// pause is set, it stops after that many messages until resume is closed.
type feed struct {
	n       int
	make    func(i int) *pipeline.Message
	pause   int
	paused  chan struct{}
	resume  chan struct{}
	acked   atomic.Int64
	nacked  atomic.Int64
	settled sync.WaitGroup
}

func (f *feed) Run(ctx context.Context, out pipeline.SourceOutput) error {
	for i := range f.n {
		if f.pause > 0 && i == f.pause {
			close(f.paused)
			select {
			case <-f.resume:
			case <-ctx.Done():
				return nil
			}
		}
		m := f.make(i)
		f.settled.Add(1)
		m.Track(func(_ any, err error) {
			if err != nil {
				f.nacked.Add(1)
			} else {
				f.acked.Add(1)
			}
			f.settled.Done()
		}, nil)
		if err := out.Emit(m); err != nil {
			return err
		}
	}
	return nil
}

// collect is a sink that keeps what it receives.
type collect struct {
	mu   sync.Mutex
	msgs []*pipeline.Message
}

func (c *collect) Write(_ context.Context, m *pipeline.Message) error {
	c.mu.Lock()
	c.msgs = append(c.msgs, m)
	c.mu.Unlock()
	return nil
}

func (c *collect) all() []*pipeline.Message {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]*pipeline.Message(nil), c.msgs...)
}

// drop is a sink that discards.
type drop struct{ n atomic.Int64 }

func (d *drop) Write(context.Context, *pipeline.Message) error { d.n.Add(1); return nil }

// run wires feed -> stage -> sink (+ dead letters) and runs to the end.
func run(tb testing.TB, src pipeline.Source, stage pipeline.BatchProcessor, opts pipeline.NodeOptions, sink, dead pipeline.Sink) {
	tb.Helper()
	p := pipeline.New(pipeline.Options{Name: "test"})
	must := func(err error) {
		if err != nil {
			tb.Fatal(err)
		}
	}
	must(p.AddSource("feed", src, pipeline.NodeOptions{}))
	must(p.AddStage("infer", stage, []string{"feed"}, opts))
	must(p.AddSink("out", sink, []string{"infer"}, pipeline.NodeOptions{}))
	if dead != nil {
		must(p.SetDeadLetter("dead", dead, pipeline.NodeOptions{}))
	}
	must(p.Run(context.Background()))
}
