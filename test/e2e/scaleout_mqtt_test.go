package e2e

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/edgeflow/edgeflow/internal/brokertest"
)

// TestMQTTRedundantBridgesIntoJetStream is the recommended way to scale out
// from MQTT: not a shared subscription (on an MQTT 3.1.1 broker the dead
// member's queue is held by its persistent session, or dropped with a clean
// one), but two bridges that each subscribe to everything with a
// persistent session and store into one JetStream stream, deduplicated by
// a message id from the payload. One bridge is SIGKILLed mid-stream: the
// other carries on, nothing stalls, and the stream holds every message
// once. Restarted, the killed bridge's backlog is deduplicated away.
// Workers then share the stream through a durable
// (TestScaleOutSharedDurableSIGKILL).
func TestMQTTRedundantBridgesIntoJetStream(t *testing.T) {
	const total = 3000
	broker := brokertest.StartMosquitto(t, brokertest.MosquittoConfig{MaxInflight: 20, Extra: "log_type subscribe"})
	server := brokertest.StartNATS(t, brokertest.NATSConfig{JetStream: true})
	js := jsClient(t, server.URL())
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	stream, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "IN", Subjects: []string{"in.>"}, Duplicates: 2 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	bridge := func(i int, _ string) string {
		return fmt.Sprintf(`
name: mqtt-bridge
drain_timeout: 5s
connections:
  plant: {type: mqtt, url: %s, client_id: edgeflow-bridge-%d}
  bus: {type: nats, url: %s}
sources:
  # max_in_flight above the backlog a restarted bridge finds in its
  # session: with a smaller one, its start-up waits ~10s for the SUBACK
  # behind the backlog (connections/mqtt, reported).
  readings: {type: mqtt, connection: plant, topics: [seq/#], qos: 1, key: {topic_token: 2}, max_in_flight: 4096}
stages:
  # Slower than the publisher, so that the killed bridge holds messages.
  pace: {type: throttle, input: readings, rate: 600, burst: 10}
sinks:
  store:
    type: nats
    input: pace
    connection: bus
    subject: in.{key}
    jetstream: true
    msg_id: "seq-{fields.seq}"   # both bridges give a reading the same id
`, broker.URL(), i, server.URL())
	}
	bridges := startInstances(t, 2, bridge, instanceOptions{})
	waitUntil(t, 20*time.Second, "both bridges to subscribe", func() bool {
		log := broker.Log()
		return strings.Contains(log, "edgeflow-bridge-0 1 seq/#") && strings.Contains(log, "edgeflow-bridge-1 1 seq/#")
	})
	msgs := func() uint64 {
		info, err := stream.Info(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return info.State.Msgs
	}

	var published atomic.Int64
	pubDone := make(chan error, 1)
	go func() { pubDone <- publishSeqs(broker.URL(), total, &published) }()
	waitUntil(t, 30*time.Second, "a third of the readings in the stream", func() bool { return msgs() > total/3 })
	bridges.procs[1].kill()
	t.Logf("killed bridge 1 with %d of %d stored, %d published", msgs(), total, published.Load())
	if err := <-pubDone; err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 30*time.Second, "the surviving bridge to store every reading", func() bool { return msgs() >= total })

	// The killed bridge comes back; its session delivers its backlog, which
	// the stream drops as duplicates.
	restarted := startEdgeflow(t, bridges.procs[1].cmd.Args[len(bridges.procs[1].cmd.Args)-1])
	waitUntil(t, 30*time.Second, "the restarted bridge to reconnect", func() bool {
		return strings.Count(broker.Log(), "as edgeflow-bridge-1 ") >= 2
	})
	// Its backlog, about two thirds of the readings at 600/s, drains in
	// under 4s.
	time.Sleep(5 * time.Second)
	restarted.stop(t)
	bridges.procs[0].stop(t)
	if got := msgs(); got != total {
		t.Fatalf("stream holds %d messages, want %d", got, total)
	}
	seen := map[int]int{}
	cons, err := js.OrderedConsumer(ctx, "IN", jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	batch, err := cons.Fetch(total, jetstream.FetchMaxWait(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	for m := range batch.Messages() {
		var seq int
		if _, err := fmt.Sscanf(string(m.Data()), `{"seq":%d}`, &seq); err != nil {
			t.Fatalf("stored %q: %v", m.Data(), err)
		}
		seen[seq]++
	}
	if dups := checkComplete(t, seen, total); dups != 0 {
		t.Fatalf("%d duplicates stored", dups)
	}
}
