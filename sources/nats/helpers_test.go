package nats_test

import (
	"context"
	"errors"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/edgeflow/edgeflow/component"
	natsconn "github.com/edgeflow/edgeflow/connections/nats"
	"github.com/edgeflow/edgeflow/pipeline"
	natssink "github.com/edgeflow/edgeflow/sinks/nats"
	natssource "github.com/edgeflow/edgeflow/sources/nats"
	"github.com/rs/zerolog"
	"go.uber.org/goleak"
	"go.yaml.in/yaml/v3"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// logger shows warnings and errors on stderr: a failing run then says why.
var logger = zerolog.New(zerolog.ConsoleWriter{Out: os.Stderr, NoColor: true}).Level(zerolog.WarnLevel).With().Timestamp().Logger()

func parse(t *testing.T, fields []component.Field, conf string) *component.Config {
	t.Helper()
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(conf), &doc); err != nil {
		t.Fatal(err)
	}
	var node *yaml.Node
	if len(doc.Content) > 0 {
		node = doc.Content[0]
	}
	c, errs := component.Parse(fields, node, "test.yaml", "node", nil)
	if len(errs) > 0 {
		t.Fatal(errors.Join(errs...))
	}
	return c
}

// startConn builds and starts a nats connection; it is closed at cleanup.
func startConn(t *testing.T, conf string) *natsconn.Conn {
	t.Helper()
	spec, _ := component.LookupConnection("nats")
	res := &component.Resources{Logger: logger, Dir: t.TempDir(), Pipeline: "test", Node: "bus"}
	c, err := natsconn.New(parse(t, spec.Fields, conf), res)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(context.Background()) })
	return c
}

func resources(node string, conns map[string]*natsconn.Conn) *component.Resources {
	res := &component.Resources{Logger: logger.With().Str("node", node).Logger(), Pipeline: "test", Node: node,
		Connections: map[string]component.Connection{}}
	for k, v := range conns {
		res.Connections[k] = v
	}
	return res
}

func newSource(t *testing.T, c *natsconn.Conn, conf string) (*natssource.Source, error) {
	t.Helper()
	spec, _ := component.Lookup(pipeline.KindSource, "nats")
	return natssource.New(parse(t, spec.Fields, "connection: bus\n"+conf), resources("src", map[string]*natsconn.Conn{"bus": c}))
}

func newSink(t *testing.T, c *natsconn.Conn, conf string) *natssink.Sink {
	t.Helper()
	spec, _ := component.Lookup(pipeline.KindSink, "nats")
	s, err := natssink.New(parse(t, spec.Fields, "connection: bus\n"+conf), resources("out", map[string]*natsconn.Conn{"bus": c}))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// collector is a sink that records what it delivers; fail, if set, fails
// the messages it returns an error for.
type collector struct {
	mu       sync.Mutex
	got      []*pipeline.Message
	attempts map[string]int // by payload
	fail     func(m *pipeline.Message) error
}

func newCollector(fail func(*pipeline.Message) error) *collector {
	return &collector{attempts: map[string]int{}, fail: fail}
}

func (c *collector) Write(_ context.Context, m *pipeline.Message) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.attempts[string(m.Payload)]++
	if c.fail != nil {
		if err := c.fail(m); err != nil {
			return err
		}
	}
	c.got = append(c.got, m)
	return nil
}

func (c *collector) messages() []*pipeline.Message {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]*pipeline.Message(nil), c.got...)
}

func (c *collector) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.got)
}

func (c *collector) attemptsFor(payload string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.attempts[payload]
}

// running is a pipeline run in the background.
type running struct {
	p      *pipeline.Pipeline
	cancel context.CancelFunc
	done   chan error
}

func run(t *testing.T, p *pipeline.Pipeline) *running {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{p: p, cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- p.Run(ctx) }()
	t.Cleanup(func() { r.stop(t) })
	return r
}

// stop cancels the run and waits for it; it fails the test if Run fails.
func (r *running) stop(t *testing.T) { r.end(t, nil) }

// abort is stop for a run whose drain timeout must run out: Run reports
// the incomplete drain, and nothing else.
func (r *running) abort(t *testing.T) { r.end(t, pipeline.ErrDrainIncomplete) }

func (r *running) end(t *testing.T, want error) {
	t.Helper()
	if r.cancel == nil {
		return
	}
	r.cancel()
	r.cancel = nil
	select {
	case err := <-r.done:
		if want == nil && err != nil || want != nil && !errors.Is(err, want) {
			t.Errorf("pipeline: %v, want %v", err, want)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("pipeline did not stop within 30s")
	}
}
