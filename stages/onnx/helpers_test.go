package onnx

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/edgeflow/edgeflow/internal/componenttest"
	"github.com/edgeflow/edgeflow/pipeline"
)

// build constructs the stage from YAML as the pipeline file would for a
// stage named infer, with relative paths taken from dir.
func build(tb testing.TB, dir, src string) (*Stage, error) {
	tb.Helper()
	c, err := componenttest.Build(tb, pipeline.KindStage, "onnx", src, componenttest.WithDir(dir),
		componenttest.WithNode("test", "infer"), componenttest.WithPath("stages.infer"))
	if err != nil {
		return nil, err
	}
	return c.(*Stage), nil
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
