package e2e

import (
	"fmt"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/edgeflow/edgeflow/internal/brokertest"
)

// TestMQTTSurvivesSIGKILL kills edgeflow mid-stream and starts it again.
// With a persistent session and acknowledgement only after the file sink has
// synced, every message published arrives in the output at least once.
func TestMQTTSurvivesSIGKILL(t *testing.T) {
	const total = 3000
	broker := brokertest.StartMosquitto(t, brokertest.MosquittoConfig{Persistence: true, MaxInflight: 20})
	dir := t.TempDir()
	out := filepath.Join(dir, "out.jsonl")
	pipeline := filepath.Join(dir, "pipeline.yaml")
	writeFile(t, pipeline, fmt.Sprintf(`
name: crash-mqtt
drain_timeout: 5s
connections:
  plant: {type: mqtt, url: %s, client_id: edgeflow-crash-test}
sources:
  readings: {type: mqtt, connection: plant, topics: [seq/#], qos: 1}
stages:
  # Slower than the publisher, so that at the kill many messages are in
  # flight inside edgeflow: an ack-on-receipt bridge would lose them.
  pace: {type: throttle, input: readings, rate: 2000, burst: 10}
sinks:
  archive: {type: file, input: pace, path: %s, fsync: true}
`, broker.URL(), out))

	// First start creates the persistent session before anything is sent.
	first := startEdgeflow(t, pipeline)
	waitUntil(t, 20*time.Second, "edgeflow to subscribe", func() bool {
		return publishProbe(t, broker.URL(), out)
	})

	var published atomic.Int64
	pubDone := make(chan error, 1)
	go func() { pubDone <- publishSeqs(broker.URL(), total, &published) }()

	waitUntil(t, 60*time.Second, "a third of the stream to arrive", func() bool {
		return len(seqsInFile(t, out)) > total/3
	})
	first.kill()
	before := len(seqsInFile(t, out)) - 1 // less the probe
	t.Logf("killed edgeflow with %d of %d delivered, %d published", before, total, published.Load())
	if before >= total {
		t.Fatal("the stream had finished before the kill; the test proves nothing")
	}

	second := startEdgeflow(t, pipeline)
	if err := <-pubDone; err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 90*time.Second, "every message to arrive after the restart", func() bool {
		return len(seqsInFile(t, out)) > total // and the probe
	})
	second.stop(t)
	dups := checkComplete(t, seqsInFile(t, out), total)
	t.Logf("all %d delivered; %d duplicates (redelivered after the kill)", total, dups)
}

// publishProbe publishes {"seq": -1} and reports whether a probe has reached
// the output file, i.e. whether edgeflow's subscription is in place.
func publishProbe(t *testing.T, url, out string) bool {
	c := paho.NewClient(paho.NewClientOptions().AddBroker(url).SetClientID("probe").SetCleanSession(true))
	if tok := c.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		return false
	}
	c.Publish("seq/probe", 1, false, `{"seq": -1}`).WaitTimeout(5 * time.Second)
	c.Disconnect(100)
	time.Sleep(100 * time.Millisecond)
	return seqsInFile(t, out)[-1] > 0
}

// publishSeqs publishes {"seq": i} for i in [0, n) at QoS 1, waiting for
// every PUBACK, so that each message is safely with the broker.
func publishSeqs(url string, n int, published *atomic.Int64) error {
	opts := paho.NewClientOptions().AddBroker(url).SetClientID("seq-publisher").SetCleanSession(true)
	c := paho.NewClient(opts)
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		return fmt.Errorf("publisher connect: %v", tok.Error())
	}
	defer c.Disconnect(250)
	for i := range n {
		tok := c.Publish(fmt.Sprintf("seq/%d", i%4), 1, false, fmt.Sprintf(`{"seq": %d}`, i))
		if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
			return fmt.Errorf("publish %d: %v", i, tok.Error())
		}
		published.Add(1)
		if i%50 == 0 {
			time.Sleep(5 * time.Millisecond) // a sensor-like stream, not one burst
		}
	}
	return nil
}
