package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/edgeflow/edgeflow/internal/brokertest"
)

const partitions, sensors = 3, 12

// partitionPipeline is one instance of the partitioned pipeline: a pinned
// source per partition, all feeding one window stage.
func partitionPipeline(url, out string) string {
	var b strings.Builder
	fmt.Fprintf(&b, `
name: scale-out-partitions
drain_timeout: 5s
connections:
  bus: {type: nats, url: %s}
sources:
`, url)
	var inputs []string
	for p := range partitions {
		fmt.Fprintf(&b, `  p%d:
    type: nats
    connection: bus
    subjects: [part.%d.*]
    key: {topic_token: 3}   # part.<partition>.<sensor>
    jetstream: {stream: IN, create_stream: false, durable: part-%d, pinned: true, ack_wait: 2s, max_ack_pending: 64, pull_batch: 16}
`, p, p, p)
		inputs = append(inputs, fmt.Sprint("p", p))
	}
	fmt.Fprintf(&b, `stages:
  pace: {type: throttle, input: [%s], rate: 500, burst: 10}
  windows: {type: window, input: pace, size: 4, step: 1, field: n}
sinks:
  archive: {type: file, input: windows, path: %s, fsync: true}
`, strings.Join(inputs, ", "), out)
	return b.String()
}

// window is one line of a partitioned instance's output.
type window struct {
	Key    string    `json:"key"`
	Window []float64 `json:"window"`
}

// TestScaleOutPartitionedWindowsPinned partitions a stream of 12 sensors
// into 3 subjects with a subject transform (deterministic partitioning
// by sensor), gives each partition a pinned durable, and runs three
// instances that bind all three: each partition is read by one instance at a
// time. The instance holding the most partitions is SIGKILLed; the others
// take its partitions over after its pin expires. Every window, whoever
// emitted it, holds consecutive readings of one sensor (also across the
// handover), and every reading is in a window.
func TestScaleOutPartitionedWindowsPinned(t *testing.T) {
	const perSensor = 250
	server := brokertest.StartNATS(t, brokertest.NATSConfig{JetStream: true, Binary: brokertest.EmbeddedNATSServer(t)})
	js := jsClient(t, server.URL())
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{
		Name: "IN", Subjects: []string{"in.*"},
		SubjectTransform: &jetstream.SubjectTransformConfig{
			Source: "in.*", Destination: fmt.Sprintf("part.{{partition(%d,1)}}.{{wildcard(1)}}", partitions),
		},
	}); err != nil {
		t.Fatal(err)
	}
	group := startInstances(t, 3, func(_ int, out string) string { return partitionPipeline(server.URL(), out) }, instanceOptions{})

	var published atomic.Int64
	pubDone := make(chan error, 1)
	go func() {
		// Reading n of sensor k; seq is global, n counts per sensor.
		pubDone <- jsPublishReadings(ctx, js, perSensor, 800, &published)
	}()
	owners := func() (byInstance [3]map[string]bool) {
		for i, out := range group.outs {
			byInstance[i] = map[string]bool{}
			for _, w := range windows(t, out) {
				byInstance[i][w.Key] = true
			}
		}
		return byInstance
	}
	waitUntil(t, 30*time.Second, "every sensor to have windows", func() bool {
		n := 0
		for _, keys := range owners() {
			n += len(keys)
		}
		return n >= sensors
	})
	before := owners()
	victim := 0
	for i := range before {
		if len(before[i]) > len(before[victim]) {
			victim = i
		}
	}
	group.procs[victim].kill()
	t.Logf("sensors per instance before the kill %d %d %d; killed instance %d, %d published",
		len(before[0]), len(before[1]), len(before[2]), victim, published.Load())
	for k := range sensors {
		key, n := fmt.Sprint("s", k), 0
		for i := range before {
			if before[i][key] {
				n++
			}
		}
		if n != 1 {
			t.Errorf("before the kill, sensor %s was windowed by %d instances, want 1", key, n)
		}
	}

	if err := <-pubDone; err != nil {
		t.Fatal(err)
	}
	complete := func() bool {
		covered := coverage(t, group.outs)
		for k := range sensors {
			for n := range perSensor {
				if !covered[fmt.Sprintf("s%d/%d", k, n)] {
					return false
				}
			}
		}
		return true
	}
	waitUntil(t, 40*time.Second, "every reading to be in a window", complete)
	group.stopAll(t, victim)

	// Every window holds consecutive readings of one sensor, also across the
	// handover: the new owner gets the dead instance's unacknowledged
	// readings first and puts them back in stream order.
	after := owners()
	var total, broken int
	for _, out := range group.outs {
		for _, w := range windows(t, out) {
			total++
			for j := 1; j < len(w.Window); j++ {
				if w.Window[j] != w.Window[j-1]+1 {
					if broken++; broken <= 5 {
						t.Errorf("window of %s (handed over: %v) is not consecutive readings: %v", w.Key, before[victim][w.Key], w.Window)
					}
					break
				}
			}
		}
	}
	t.Logf("%d windows, %d not consecutive; sensors per instance after %d %d %d",
		total, broken, len(after[0]), len(after[1]), len(after[2]))
}

// jsPublishReadings publishes perSensor readings for each of the sensors,
// round robin, to in.<sensor>, at about rate per second.
func jsPublishReadings(ctx context.Context, js jetstream.JetStream, perSensor, rate int, done *atomic.Int64) error {
	tick := time.Second / time.Duration(rate)
	next := time.Now()
	for i := range perSensor * sensors {
		k, n := i%sensors, i/sensors
		data := fmt.Appendf(nil, `{"seq": %d, "sensor": "s%d", "n": %d}`, i, k, n)
		if _, err := js.Publish(ctx, fmt.Sprint("in.s", k), data); err != nil {
			return fmt.Errorf("publish %d: %w", i, err)
		}
		done.Add(1)
		if next = next.Add(tick); time.Until(next) > 0 {
			time.Sleep(time.Until(next))
		}
	}
	return nil
}

func windows(t *testing.T, path string) []window {
	t.Helper()
	var out []window
	for _, line := range linesOf(t, path) {
		var w window
		if json.Unmarshal(line, &w) == nil && w.Key != "" {
			out = append(out, w)
		}
	}
	return out
}

// coverage is the set of "sensor/n" readings that are in some window.
func coverage(t *testing.T, outs []string) map[string]bool {
	covered := map[string]bool{}
	for _, out := range outs {
		for _, w := range windows(t, out) {
			for _, v := range w.Window {
				covered[fmt.Sprintf("%s/%d", w.Key, int(v))] = true
			}
		}
	}
	return covered
}
