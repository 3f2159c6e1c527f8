package e2e

import (
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/edgeflow/edgeflow/internal/brokertest"
)

// TestMQTTSourceAndSinkShareAConnection reads and publishes on one mqtt
// connection while the source is held back by a slow stage: the sink's
// PUBACKs must still arrive (they once waited behind the backpressured
// subscriber, and the pipeline locked up).
func TestMQTTSourceAndSinkShareAConnection(t *testing.T) {
	const total = 600
	broker := brokertest.StartMosquitto(t, brokertest.MosquittoConfig{})
	dir := t.TempDir()
	pipeline := filepath.Join(dir, "pipeline.yaml")
	writeFile(t, pipeline, fmt.Sprintf(`
name: loop
connections:
  plant: {type: mqtt, url: %s, client_id: edgeflow-loop-test}
sources:
  readings: {type: mqtt, connection: plant, topics: [seq/#], qos: 1, max_in_flight: 8}
stages:
  slow: {type: throttle, input: readings, rate: 300, burst: 1, buffer: 2}
sinks:
  forward: {type: mqtt, connection: plant, input: slow, topic: out/readings, qos: 1, buffer: 2}
`, broker.URL()))

	// A plain client counts what edgeflow publishes.
	var got atomic.Int64
	seen := sync.Map{}
	sub := paho.NewClient(paho.NewClientOptions().AddBroker(broker.URL()).SetClientID("loop-counter").SetCleanSession(true))
	if tok := sub.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	defer sub.Disconnect(100)
	if tok := sub.Subscribe("out/readings", 1, func(_ paho.Client, m paho.Message) {
		if _, dup := seen.LoadOrStore(string(m.Payload()), true); !dup {
			got.Add(1)
		}
	}); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}

	ef := startEdgeflow(t, pipeline)
	// The session must exist before the stream starts.
	defer func() {
		if t.Failed() {
			t.Logf("edgeflow logs:\n%s", ef.logs)
		}
	}()
	waitUntil(t, 20*time.Second, "edgeflow to subscribe", func() bool {
		p := paho.NewClient(paho.NewClientOptions().AddBroker(broker.URL()).SetClientID("loop-probe").SetCleanSession(true))
		if tok := p.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
			return false
		}
		p.Publish("seq/probe", 1, false, `{"seq": -1}`).WaitTimeout(5 * time.Second)
		p.Disconnect(100)
		time.Sleep(200 * time.Millisecond)
		return got.Load() > 0
	})
	var published atomic.Int64
	if err := publishSeqs(broker.URL(), total, &published); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 60*time.Second, "every message to be forwarded", func() bool {
		return got.Load() >= total+1 // and the probe
	})
	ef.stop(t)
}
