package e2e

import (
	"context"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/edgeflow/edgeflow/internal/brokertest"
)

// TestJetStreamSurvivesSIGKILL kills edgeflow while it consumes a JetStream
// stream through a durable consumer and starts it again: every message
// stored in the stream reaches the output at least once.
func TestJetStreamSurvivesSIGKILL(t *testing.T) {
	const total = 3000
	server := brokertest.StartNATS(t, brokertest.NATSConfig{JetStream: true})
	dir := t.TempDir()
	out := filepath.Join(dir, "out.jsonl")
	pipeline := filepath.Join(dir, "pipeline.yaml")
	writeFile(t, pipeline, fmt.Sprintf(`
name: crash-js
drain_timeout: 5s
connections:
  bus: {type: nats, url: %s}
sources:
  readings:
    type: nats
    connection: bus
    subjects: [in.seq]
    jetstream: {stream: IN, durable: crash, ack_wait: 2s, max_ack_pending: 256}
stages:
  # Slower than the producer, so that at the kill many messages are in
  # flight inside edgeflow.
  pace: {type: throttle, input: readings, rate: 2000, burst: 10}
sinks:
  archive: {type: file, input: pace, path: %s, fsync: true}
`, server.URL(), out))

	nc, err := nats.Connect(server.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "IN", Subjects: []string{"in.seq"}}); err != nil {
		t.Fatal(err)
	}

	var published atomic.Int64
	pubDone := make(chan error, 1)
	go func() {
		for i := range total {
			if _, err := js.Publish(ctx, "in.seq", fmt.Appendf(nil, `{"seq": %d}`, i)); err != nil {
				pubDone <- fmt.Errorf("publish %d: %w", i, err)
				return
			}
			published.Add(1)
			if i%50 == 0 {
				time.Sleep(5 * time.Millisecond)
			}
		}
		pubDone <- nil
	}()

	first := startEdgeflow(t, pipeline)
	waitUntil(t, 60*time.Second, "a third of the stream to arrive", func() bool {
		return len(seqsInFile(t, out)) > total/3
	})
	first.kill()
	t.Logf("killed edgeflow with %d of %d delivered, %d published", len(seqsInFile(t, out)), total, published.Load())

	second := startEdgeflow(t, pipeline)
	if err := <-pubDone; err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 90*time.Second, "every message to arrive after the restart", func() bool {
		return len(seqsInFile(t, out)) >= total
	})
	second.stop(t)
	dups := checkComplete(t, seqsInFile(t, out), total)
	t.Logf("all %d delivered; %d duplicates (redelivered after the kill)", total, dups)
}
