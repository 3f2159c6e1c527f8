package nats_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/edgeflow/edgeflow/internal/brokertest"
	"github.com/edgeflow/edgeflow/internal/componenttest"
	"github.com/edgeflow/edgeflow/pipeline"
)

// A message without the key token or field, or without the time field, goes
// to the dead-letter sink with a reason naming it, on core NATS and
// JetStream alike; the others get their key and time.
func TestMissingAddressFieldsDeadLettered(t *testing.T) {
	srv := brokertest.StartNATS(t, brokertest.NATSConfig{JetStream: true})
	nc, js := admin(t, srv.URL())
	at := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	for _, mode := range []string{"core", "jetstream"} {
		t.Run(mode, func(t *testing.T) {
			conn := startConn(t, "url: "+srv.URL())
			conf := "subjects: [" + mode + ".>]\nkey: {field: sensor}\ntime: {field: ts}\n"
			if mode == "jetstream" {
				conf += "jetstream:\n  stream: ADDR\n  durable: addr\n"
			}
			src, err := newSource(t, conn, conf)
			if err != nil {
				t.Fatal(err)
			}
			out, dl := newCollector(nil), newCollector(nil)
			p := pipeline.New(pipeline.Options{Name: "address", Logger: &logger})
			p.AddSource("src", src, pipeline.NodeOptions{})
			p.AddSink("out", out, []string{"src"}, pipeline.NodeOptions{})
			p.SetDeadLetter("dl", dl, pipeline.NodeOptions{})
			r := run(t, p)
			if mode == "jetstream" {
				componenttest.WaitFor(t, 15*time.Second, "stream", func() bool {
					_, err := js.Stream(context.Background(), "ADDR")
					return err == nil
				})
			} else {
				own, _ := conn.Client()
				componenttest.WaitFor(t, 15*time.Second, "subscription", func() bool { return own.NumSubscriptions() > 0 })
				own.Flush()
			}
			payloads := map[string]string{
				fmt.Sprintf(`{"sensor":"s1","ts":%q}`, at.Format(time.RFC3339)): "",
				`{"ts":"2024-05-01T12:00:00Z"}`:                                 `key.field "sensor" is missing`,
				`{"sensor":"s2"}`:                                               `time.field "ts" is missing`,
				`{"sensor":"s3","ts":"noon"}`:                                   `time.field "ts": cannot parse time "noon"`,
			}
			for data := range payloads {
				publish(t, mode, nc, js, mode+".x", data)
			}
			componenttest.WaitFor(t, 15*time.Second, "all messages", func() bool { return out.count()+dl.count() == len(payloads) })
			r.stop(t)
			if out.count() != 1 {
				t.Fatalf("delivered %d, want 1", out.count())
			}
			if m := out.messages()[0]; m.Key != "s1" || !m.SourceTime.Equal(at) {
				t.Errorf("delivered key %q time %v, want s1 at %v", m.Key, m.SourceTime, at)
			}
			for _, m := range dl.messages() {
				want := payloads[string(m.Payload)]
				if got := m.Meta[pipeline.MetaDeadLetterError]; want == "" || !strings.Contains(got, want) {
					t.Errorf("dead letter %s: reason %q, want %q", m.Payload, got, want)
				}
			}
		})
	}
}

// A subject with too few tokens for key.topic_token is dead-lettered too.
func TestMissingSubjectTokenDeadLettered(t *testing.T) {
	srv := brokertest.StartNATS(t, brokertest.NATSConfig{})
	conn := startConn(t, "url: "+srv.URL())
	src, err := newSource(t, conn, "subjects: [tok.>]\nkey: {topic_token: 3}")
	if err != nil {
		t.Fatal(err)
	}
	out, dl := newCollector(nil), newCollector(nil)
	p := pipeline.New(pipeline.Options{Name: "token", Logger: &logger})
	p.AddSource("src", src, pipeline.NodeOptions{})
	p.AddSink("out", out, []string{"src"}, pipeline.NodeOptions{})
	p.SetDeadLetter("dl", dl, pipeline.NodeOptions{})
	r := run(t, p)
	own, _ := conn.Client()
	componenttest.WaitFor(t, 15*time.Second, "subscription", func() bool { return own.NumSubscriptions() > 0 })
	own.Flush()
	nc, _ := admin(t, srv.URL())
	for _, subj := range []string{"tok.a.s1", "tok.b"} {
		if err := nc.Publish(subj, []byte(`{"v":1}`)); err != nil {
			t.Fatal(err)
		}
	}
	nc.Flush()
	componenttest.WaitFor(t, 15*time.Second, "both messages", func() bool { return out.count()+dl.count() == 2 })
	r.stop(t)
	if out.count() != 1 || out.messages()[0].Key != "s1" {
		t.Fatalf("delivered %v", out.messages())
	}
	if got := dl.messages()[0].Meta[pipeline.MetaDeadLetterError]; !strings.Contains(got, `key.topic_token 3: topic "tok.b" has only 2 tokens`) {
		t.Errorf("dead letter reason %q", got)
	}
}
