package nats_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/edgeflow/edgeflow/component"
	natsconn "github.com/edgeflow/edgeflow/connections/nats"
	"github.com/edgeflow/edgeflow/internal/brokertest"
	"github.com/edgeflow/edgeflow/pipeline"
	natssink "github.com/edgeflow/edgeflow/sinks/nats"
	"github.com/rs/zerolog"
	"go.uber.org/goleak"
	"go.yaml.in/yaml/v3"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func parse(t *testing.T, fields []component.Field, conf string) *component.Config {
	t.Helper()
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(conf), &doc); err != nil {
		t.Fatal(err)
	}
	c, errs := component.Parse(fields, doc.Content[0], "test.yaml", "node", nil)
	if len(errs) > 0 {
		t.Fatal(errors.Join(errs...))
	}
	return c
}

func build(t *testing.T, url, conf string) (*natsconn.Conn, *natssink.Sink, error) {
	t.Helper()
	cspec, _ := component.LookupConnection("nats")
	res := &component.Resources{Logger: zerolog.Nop(), Dir: t.TempDir(), Pipeline: "t", Node: "out"}
	conn, err := natsconn.New(parse(t, cspec.Fields, "url: "+url+"\nreconnect_wait: 50ms"), res)
	if err != nil {
		t.Fatal(err)
	}
	res.Connections = map[string]component.Connection{"bus": conn}
	spec, _ := component.Lookup(pipeline.KindSink, "nats")
	s, err := natssink.New(parse(t, spec.Fields, "connection: bus\n"+conf), res)
	return conn, s, err
}

func TestSinkConfigErrors(t *testing.T) {
	cases := []struct{ conf, want string }{
		{"subject: a.{nope}", "unknown placeholder"},
		{"subject: a..b", "empty token"},
		{"subject: a\nstream: S", "only with jetstream"},
		{"subject: a\nmsg_id: '{key'", "unclosed"},
		{"subject: a\nconnection: other", "no connection named"},
	}
	for _, c := range cases {
		conf := c.conf
		if strings.Contains(conf, "connection:") {
			conf = strings.Replace(conf, "connection: other", "", 1)
			spec, _ := component.Lookup(pipeline.KindSink, "nats")
			res := &component.Resources{Logger: zerolog.Nop(), Connections: map[string]component.Connection{}}
			_, err := natssink.New(parse(t, spec.Fields, "connection: other\n"+conf), res)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("%q: got %v", c.conf, err)
			}
			continue
		}
		if _, _, err := build(t, "nats://127.0.0.1:1", conf); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: got %v, want an error containing %q", c.conf, err, c.want)
		}
	}
}

// A write before Start, or while the server is down, fails at once instead
// of parking the message in the reconnect buffer.
func TestSinkRefusesWhenDisconnected(t *testing.T) {
	srv := brokertest.StartNATS(t, brokertest.NATSConfig{})
	conn, s, err := build(t, srv.URL(), "subject: out.{key}")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	m := &pipeline.Message{Key: "k", Fields: map[string]any{"v": 1.0}}
	if err := s.Write(ctx, m); !errors.Is(err, natsconn.ErrNotStarted) {
		t.Fatalf("write before start: %v", err)
	}
	if err := conn.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	nc, _ := conn.Client()
	sub, _ := nc.SubscribeSync("out.>")
	if err := s.Write(ctx, m); err != nil {
		t.Fatalf("write: %v", err)
	}
	if got, err := sub.NextMsg(5 * time.Second); err != nil || string(got.Data) != `{"v":1}` || got.Subject != "out.k" {
		t.Fatalf("got %v, %v", got, err)
	}
	srv.Kill()
	for deadline := time.Now().Add(10 * time.Second); nc.IsConnected() && time.Now().Before(deadline); {
		nc.Flush() // notices the dead socket sooner than the pinger
	}
	if err := s.Write(ctx, m); !errors.Is(err, natssink.ErrDisconnected) {
		t.Fatalf("write while down: %v", err)
	}
}
