package mqtt

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/edgeflow/edgeflow/component"
	mqttconn "github.com/edgeflow/edgeflow/connections/mqtt"
	"github.com/edgeflow/edgeflow/internal/componenttest"
	"github.com/edgeflow/edgeflow/pipeline"
	"github.com/rs/zerolog"
)

func testLogger(t *testing.T) zerolog.Logger {
	return zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel).With().Timestamp().Logger()
}

// newConn returns an unstarted connection with short test timings, closed
// at the end of the test.
func newConn(t *testing.T, url, clientID string) *mqttconn.Conn {
	t.Helper()
	c, err := mqttconn.New(clientID, mqttconn.Options{
		URL: url, ClientID: clientID, Keepalive: 5 * time.Second, ConnectTimeout: 5 * time.Second,
		ReconnectMin: 50 * time.Millisecond, ReconnectMax: time.Second, RedeliveryDelay: 300 * time.Millisecond,
	}, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(context.Background()) })
	return c
}

// collector is a sink that records the "seq" field of what it delivers and
// fails while failing is set.
type collector struct {
	mu      sync.Mutex
	seen    map[int]int // seq -> times delivered
	errs    map[int]string
	keys    map[int]string
	failing bool
	delay   time.Duration
}

func newCollector() *collector {
	return &collector{seen: map[int]int{}, errs: map[int]string{}, keys: map[int]string{}}
}

func (c *collector) Write(ctx context.Context, m *pipeline.Message) error {
	if c.delay > 0 {
		time.Sleep(c.delay)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.failing {
		return pipeline.Unavailable(fmt.Errorf("sink down"))
	}
	seq := -1
	fields := m.Fields
	if f, ok := fields["fields"].(map[string]any); ok && m.Meta[pipeline.MetaDeadLetterError] != "" {
		fields = f // a dead-letter record
	}
	if v, ok := fields["seq"].(float64); ok {
		seq = int(v)
	} else if n, err := fmt.Sscanf(string(m.Payload), "bad-%d", &seq); n != 1 || err != nil { // "bad-<n>", perhaps padded
		seq = -1
	}
	c.seen[seq]++
	c.keys[seq] = m.Key
	if e := m.Meta[pipeline.MetaDeadLetterError]; e != "" {
		c.errs[seq] = e
	}
	return nil
}

func (c *collector) setFailing(v bool) {
	c.mu.Lock()
	c.failing = v
	c.mu.Unlock()
}

// count returns distinct seqs and total deliveries.
func (c *collector) count() (distinct, total int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, n := range c.seen {
		total += n
	}
	return len(c.seen), total
}

func (c *collector) has(seq int) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.seen[seq] > 0
}

// publisher is a plain paho client, not edgeflow.
func publisher(t *testing.T, url, id string) paho.Client {
	t.Helper()
	cl := paho.NewClient(paho.NewClientOptions().AddBroker(url).SetClientID(id).SetCleanSession(true).SetAutoReconnect(false))
	if tok := cl.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("publisher connect: %v", tok.Error())
	}
	t.Cleanup(func() { cl.Disconnect(250) })
	return cl
}

func publishSeq(t *testing.T, cl paho.Client, topic string, from, to int, payload func(i int) []byte) {
	t.Helper()
	for i := from; i < to; i++ {
		p := payload(i)
		if p == nil {
			p, _ = json.Marshal(map[string]any{"seq": i})
		}
		tok := cl.Publish(topic, 1, false, p)
		if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
			t.Fatalf("publish %d: %v", i, tok.Error())
		}
	}
}

// running starts the connection and a pipeline source -> out (+ dead
// letters) and returns a stop function that drains and waits.
func running(t *testing.T, conn *mqttconn.Conn, src pipeline.Source, out, dl pipeline.Sink) (stop func()) {
	t.Helper()
	return runningVia(t, conn, src, nil, out, dl)
}

// runningVia is running with stage, on four workers, between the source
// and out when it is not nil.
func runningVia(t *testing.T, conn *mqttconn.Conn, src pipeline.Source, stage pipeline.Processor, out, dl pipeline.Sink) (stop func()) {
	t.Helper()
	p := pipeline.New(pipeline.Options{Name: t.Name(), Buffer: 16, DrainTimeout: 20 * time.Second})
	if err := p.AddSource("in", src, pipeline.NodeOptions{}); err != nil {
		t.Fatal(err)
	}
	last := "in"
	if stage != nil {
		if err := p.AddStage("stage", stage, []string{"in"}, pipeline.NodeOptions{Workers: 4}); err != nil {
			t.Fatal(err)
		}
		last = "stage"
	}
	if err := p.AddSink("out", out, []string{last}, pipeline.NodeOptions{}); err != nil {
		t.Fatal(err)
	}
	if dl != nil {
		if err := p.SetDeadLetter("dl", dl, pipeline.NodeOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if err := conn.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	// Generous: a resumed session's backlog is read ahead of the SUBACK, and
	// under -race on a loaded 2-core box 100k messages take well over 10 s.
	componenttest.WaitFor(t, time.Minute, "connection", conn.Connected)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("pipeline: %v", err)
			}
			conn.Close(context.Background())
		})
	}
	t.Cleanup(stop)
	return stop
}

func freeAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// unconnectedSource is an mqtt source on a connection that is never
// started, for tests and benchmarks that call emit directly: QoS 0, keyed
// by the topic's second token.
func unconnectedSource(tb testing.TB) *Source {
	tb.Helper()
	conn, err := mqttconn.New("emit", mqttconn.Options{URL: "tcp://127.0.0.1:1", ClientID: "emit"}, zerolog.Nop())
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { conn.Close(context.Background()) })
	return componenttest.MustBuild(tb, pipeline.KindSource, "mqtt",
		"connection: broker\ntopics: [in/+]\nqos: 0\nkey: {topic_token: 2}\n",
		componenttest.WithConnections(map[string]component.Connection{"broker": conn})).(*Source)
}
