package config_test

import (
	"context"
	"errors"
	"strconv"
	"sync"

	"github.com/edgeflow/edgeflow/component"
	"github.com/edgeflow/edgeflow/component/schema"
	"github.com/edgeflow/edgeflow/pipeline"
)

// Fake components for the tests; their type names start with test_ so they
// never clash with real ones.

// testGen emits count messages with Fields["value"] = 0..count-1 and counts
// how its messages settle.
type testGen struct {
	count int
	acked *counter
}

func (g *testGen) Run(ctx context.Context, out pipeline.SourceOutput) error {
	for i := range g.count {
		if ctx.Err() != nil {
			return nil
		}
		m := pipeline.NewMessage([]byte(strconv.Itoa(i)))
		m.Fields = map[string]any{"value": float64(i)}
		m.Track(func(_ any, err error) {
			if err == nil {
				g.acked.add(1)
			}
		}, nil)
		if err := out.Emit(m); err != nil {
			return err
		}
	}
	return nil
}

// testScale multiplies Fields["value"] by factor.
type testScale struct{ factor float64 }

func (s *testScale) Process(_ context.Context, m *pipeline.Message, out pipeline.Emitter) error {
	m.Fields["value"] = m.Fields["value"].(float64) * s.factor
	out.Emit(m)
	return nil
}

// testBatchScale is testScale over batches.
type testBatchScale struct{ testScale }

func (s *testBatchScale) ProcessBatch(ctx context.Context, b []*pipeline.Message, out pipeline.Emitter) []error {
	for _, m := range b {
		_ = s.Process(ctx, m, out)
	}
	return nil
}

// testCollect keeps what it is given, in collectors[name].
type testCollect struct{ c *collector }

func (s *testCollect) Write(_ context.Context, m *pipeline.Message) error {
	s.c.add(m.Fields["value"].(float64))
	return nil
}

type collector struct {
	mu     sync.Mutex
	values []float64
}

func (c *collector) add(v float64) {
	c.mu.Lock()
	c.values = append(c.values, v)
	c.mu.Unlock()
}

func (c *collector) get() []float64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]float64(nil), c.values...)
}

type counter struct {
	mu sync.Mutex
	n  int
}

func (c *counter) add(d int) { c.mu.Lock(); c.n += d; c.mu.Unlock() }
func (c *counter) get() int  { c.mu.Lock(); defer c.mu.Unlock(); return c.n }

var (
	registryMu sync.Mutex
	collectors = map[string]*collector{}
	acks       = map[string]*counter{}
	conns      = map[string]*testConn{}
)

func collectorFor(name string) *collector {
	registryMu.Lock()
	defer registryMu.Unlock()
	if collectors[name] == nil {
		collectors[name] = &collector{}
	}
	return collectors[name]
}

func acksFor(name string) *counter {
	registryMu.Lock()
	defer registryMu.Unlock()
	if acks[name] == nil {
		acks[name] = &counter{}
	}
	return acks[name]
}

// testConn records Start and Close; url "fail" fails Start.
type testConn struct {
	url             string
	started, closed bool
}

func (c *testConn) Start(context.Context) error {
	if c.url == "fail" {
		return errors.New("connection refused")
	}
	c.started = true
	return nil
}

func (c *testConn) Close(context.Context) error { c.closed = true; return nil }

// closeRecorder is a sink that records being closed without running.
type closeRecorder struct{ closed *counter }

func (c *closeRecorder) Write(context.Context, *pipeline.Message) error { return nil }
func (c *closeRecorder) Close(context.Context) error                    { c.closed.add(1); return nil }

func init() {
	// test_gen's messages have one field, value (a float); with id
	// "unknown" it says nothing of them.
	component.Register(component.Spec{Kind: pipeline.KindSource, Name: "test_gen", Summary: "test source",
		Schema: func(conf *component.Config, _ schema.Schema, _ *component.Resources) (schema.Schema, error) {
			if conf.String("id") == "unknown" {
				return schema.Unknown(), nil
			}
			return schema.Schema{Closed: true, Fields: map[string]schema.Type{"value": schema.Float}}, nil
		},
		Fields: []component.Field{
			{Name: "count", Type: component.Int, Default: 10, Min: component.Bound(0)},
			{Name: "id", Type: component.String, Default: "gen"},
			{Name: "interval", Type: component.Duration, Optional: true},
			{Name: "connection", Type: component.String, Optional: true},
		},
		New: func(conf *component.Config, res *component.Resources) (any, error) {
			if conf.Has("connection") {
				if _, err := res.Connection(conf.String("connection")); err != nil {
					return nil, conf.Errorf("connection", "%v", err)
				}
			}
			return &testGen{count: conf.Int("count"), acked: acksFor(conf.String("id"))}, nil
		}})
	component.Register(component.Spec{Kind: pipeline.KindStage, Name: "test_scale", Summary: "test stage",
		Fields: []component.Field{
			{Name: "factor", Type: component.Float, Default: 2.0},
			{Name: "size", Type: component.Int, Default: 1},
			{Name: "window", Type: component.Object, Optional: true, Fields: []component.Field{
				{Name: "every", Type: component.Duration, Default: "1s"},
			}},
		},
		New: func(conf *component.Config, res *component.Resources) (any, error) {
			if conf.Float("factor") > 1000 {
				return nil, conf.Errorf("factor", "factor %v is too large for this test", conf.Float("factor"))
			}
			return &testScale{factor: conf.Float("factor")}, nil
		}})
	component.Register(component.Spec{Kind: pipeline.KindStage, Name: "test_batch_scale", Summary: "batching test stage",
		Batching: true,
		Fields:   []component.Field{{Name: "factor", Type: component.Float, Default: 2.0}},
		New: func(conf *component.Config, res *component.Resources) (any, error) {
			return &testBatchScale{testScale{factor: conf.Float("factor")}}, nil
		}})
	component.Register(component.Spec{Kind: pipeline.KindStage, Name: "test_boom", Summary: "stage whose constructor fails",
		New: func(conf *component.Config, res *component.Resources) (any, error) {
			return nil, errors.New("boom")
		}})
	component.Register(component.Spec{Kind: pipeline.KindStage, Name: "test_panic", Summary: "stage whose constructor panics",
		New: func(conf *component.Config, res *component.Resources) (any, error) {
			panic("bad day")
		}})
	component.Register(component.Spec{Kind: pipeline.KindSink, Name: "test_collect", Summary: "test sink",
		Fields: []component.Field{{Name: "into", Type: component.String}},
		New: func(conf *component.Config, res *component.Resources) (any, error) {
			return &testCollect{c: collectorFor(conf.String("into"))}, nil
		}})
	component.Register(component.Spec{Kind: pipeline.KindSink, Name: "test_closer", Summary: "sink that records Close",
		Fields: []component.Field{{Name: "id", Type: component.String}},
		New: func(conf *component.Config, res *component.Resources) (any, error) {
			return &closeRecorder{closed: acksFor("closed-" + conf.String("id"))}, nil
		}})
	component.RegisterConnection(component.ConnectionSpec{Name: "test_conn", Summary: "test connection",
		Fields: []component.Field{{Name: "url", Type: component.String}},
		New: func(conf *component.Config, res *component.Resources) (component.Connection, error) {
			c := &testConn{url: conf.String("url")}
			registryMu.Lock()
			conns[res.Node] = c
			registryMu.Unlock()
			return c, nil
		}})
}

func connNamed(name string) *testConn {
	registryMu.Lock()
	defer registryMu.Unlock()
	return conns[name]
}
