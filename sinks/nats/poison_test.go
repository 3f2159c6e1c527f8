package nats_test

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edgeflow/edgeflow/internal/brokertest"
	"github.com/edgeflow/edgeflow/pipeline"
	"github.com/nats-io/nats.go/jetstream"
)

// mixed emits n messages: every 5th is larger than the server's
// max_payload, every 7th lacks the field its subject needs; the rest are
// good. It records how each was settled.
type mixed struct {
	n      int
	mu     sync.Mutex
	acked  map[int]int
	nacked map[int]error
}

func (s *mixed) bad(i int) bool { return i%5 == 0 || i%7 == 0 }

func (s *mixed) Run(_ context.Context, out pipeline.SourceOutput) error {
	for i := 1; i <= s.n; i++ {
		m := pipeline.NewMessage(nil)
		m.Key = "k"
		m.Fields = map[string]any{"seq": i, "id": "s" + strconv.Itoa(i%3)}
		switch {
		case i%5 == 0:
			m.Fields["blob"] = strings.Repeat("x", 2<<20)
		case i%7 == 0:
			delete(m.Fields, "id")
		}
		m.Track(s.settle, i)
		if err := out.Emit(m); err != nil {
			return err
		}
	}
	return nil
}

func (s *mixed) settle(token any, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		s.nacked[token.(int)] = err
		return
	}
	s.acked[token.(int)]++
}

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

// A message larger than max_payload, or one whose subject cannot be filled,
// can never be published: it goes to the dead-letter sink once, and the
// rest of its batch is stored once. Before, "maximum payload exceeded" was
// taken for a passing failure: the whole batch was retried (forever with
// retry max -1) and nacked.
func TestSinkDeadLettersPoisonAndDeliversTheRest(t *testing.T) {
	for _, js := range []bool{true, false} {
		t.Run("jetstream="+strconv.FormatBool(js), func(t *testing.T) {
			srv := brokertest.StartNATS(t, brokertest.NATSConfig{JetStream: true})
			conf := "subject: out.{fields.id}"
			if js {
				conf += "\njetstream: true"
			}
			conn, s, err := build(t, srv.URL(), conf)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			if err := conn.Start(ctx); err != nil {
				t.Fatal(err)
			}
			defer conn.Close(ctx)
			nc, _ := conn.Client()
			jsc, _ := jetstream.New(nc)
			stream, err := jsc.CreateStream(ctx, jetstream.StreamConfig{Name: "OUT", Subjects: []string{"out.>"}})
			if err != nil {
				t.Fatal(err)
			}

			const n = 200
			src := &mixed{n: n, acked: map[int]int{}, nacked: map[int]error{}}
			dead := &collect{}
			p := pipeline.New(pipeline.Options{})
			if err := errors.Join(p.AddSource("src", src, pipeline.NodeOptions{}),
				p.AddSink("out", s, []string{"src"}, pipeline.NodeOptions{Retries: -1, BatchSize: 32}),
				p.SetDeadLetter("dead", dead, pipeline.NodeOptions{})); err != nil {
				t.Fatal(err)
			}
			if err := p.Run(ctx); err != nil {
				t.Fatal(err)
			}
			if len(src.nacked) != 0 || len(src.acked) != n {
				t.Fatalf("acked %d nacked %d of %d: %v", len(src.acked), len(src.nacked), n, src.nacked)
			}
			wantBad := 0
			for i := 1; i <= n; i++ {
				if src.bad(i) {
					wantBad++
				}
			}
			if len(dead.msgs) != wantBad {
				t.Fatalf("dead letters %d, want %d", len(dead.msgs), wantBad)
			}
			for _, m := range dead.msgs {
				f := m.Fields["fields"].(map[string]any)
				seq := f["seq"].(int)
				reason := m.Fields["error"].(string)
				if seq%5 == 0 && !strings.Contains(reason, "maximum payload") ||
					seq%5 != 0 && !strings.Contains(reason, "subject") {
					t.Errorf("seq %d dead-lettered for %q", seq, reason)
				}
			}
			info, err := stream.Info(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if got := int(info.State.Msgs); got != n-wantBad {
				t.Fatalf("stream holds %d, want the %d good messages once each", got, n-wantBad)
			}
		})
	}
}
