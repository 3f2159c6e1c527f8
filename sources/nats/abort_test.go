package nats_test

import (
	"context"
	"encoding/json"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/edgeflow/edgeflow/internal/brokertest"
	"github.com/edgeflow/edgeflow/internal/componenttest"
	"github.com/edgeflow/edgeflow/pipeline"
)

// stuckSink never delivers: each write waits until the pipeline gives up.
type stuckSink struct{}

func (stuckSink) Write(ctx context.Context, _ *pipeline.Message) error {
	<-ctx.Done()
	return ctx.Err()
}

// seqSink records the "seq" of every message it delivers.
type seqSink struct {
	mu   sync.Mutex
	seen map[int]bool
}

func (s *seqSink) Write(_ context.Context, m *pipeline.Message) error {
	var v struct{ Seq int }
	if err := json.Unmarshal(m.Payload, &v); err != nil {
		return pipeline.Permanent(err)
	}
	s.mu.Lock()
	s.seen[v.Seq] = true
	s.mu.Unlock()
	return nil
}

func (s *seqSink) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.seen)
}

// TestAbortNacksInFlight: when the drain timeout aborts a pipeline whose
// sink never delivers, nothing the source took is acknowledged: a second
// run on the same durable consumer gets every message (nacked ones at once,
// never-emitted ones after ack_wait).
func TestAbortNacksInFlight(t *testing.T) {
	srv := brokertest.StartNATS(t, brokertest.NATSConfig{JetStream: true})
	_, js := admin(t, srv.URL())
	createStream(t, js, "IN", "in.>")
	const n = 40
	var produced atomic.Int64
	if err := produce(js, "in", n, &produced); err != nil {
		t.Fatal(err)
	}
	conn := startConn(t, "url: "+srv.URL())
	const conf = `subjects: [in.>]
jetstream:
  stream: IN
  durable: abort
  pull_batch: 8
  ack_wait: 1s
  nak_delay: 10ms`
	start := func(name string, sink pipeline.Sink, drain time.Duration) (*pipeline.Pipeline, *running) {
		src, err := newSource(t, conn, conf)
		if err != nil {
			t.Fatal(err)
		}
		p := pipeline.New(pipeline.Options{Name: name, Buffer: 4, DrainTimeout: drain, Logger: &logger})
		p.AddSource("src", src, pipeline.NodeOptions{})
		p.AddSink("out", sink, []string{"src"}, pipeline.NodeOptions{})
		return p, run(t, p)
	}
	p, r := start("stuck", stuckSink{}, 100*time.Millisecond)
	componenttest.WaitFor(t, 30*time.Second, "the source to fill the sink's queue", func() bool {
		st, _ := p.Stats("src")
		return st.Received >= 5
	})
	r.abort(t)
	if st, _ := p.Stats("src"); st.Acked != 0 {
		t.Fatalf("the source acked %d messages that no sink delivered", st.Acked)
	}

	got := &seqSink{seen: map[int]bool{}}
	_, r = start("good", got, 10*time.Second)
	deadline := time.Now().Add(30 * time.Second)
	for got.count() < n {
		if time.Now().After(deadline) {
			// Say where the rest is, for a failure that does not repeat.
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if c, err := js.Consumer(ctx, "IN", "abort"); err == nil {
				if info, err := c.Info(ctx); err == nil {
					t.Logf("consumer: ack pending %d, redelivered %d, waiting pulls %d, pending %d",
						info.NumAckPending, info.NumRedelivered, info.NumWaiting, info.NumPending)
				}
			}
			t.Fatalf("after 30s, %d of %d messages came back; missing seqs %v", got.count(), n, got.missing(n))
		}
		time.Sleep(20 * time.Millisecond)
	}
	r.stop(t)
}

// missing lists the seqs of 0..n-1 that s has not delivered.
func (s *seqSink) missing(n int) []int {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []int
	for i := range n {
		if !s.seen[i] {
			out = append(out, i)
		}
	}
	return out
}
