package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/edgeflow/edgeflow/internal/brokertest"
)

// instances are edgeflow processes of one scaled-out pipeline, each writing
// its own output file.
type instances struct {
	procs []*edgeflow
	outs  []string
}

// instanceOptions adjust how startInstances starts the instances.
type instanceOptions struct {
	// between, if set, is called after instance i has started and before
	// the next one starts.
	between func(i int)
	// flags, if set, are instance i's `edgeflow run` flags instead of
	// --no-metrics.
	flags func(i int) []string
}

// startInstances writes the pipeline render(i, out) for each of n
// instances and starts them.
func startInstances(t *testing.T, n int, render func(i int, out string) string, opts instanceOptions) *instances {
	t.Helper()
	dir := t.TempDir()
	in := &instances{}
	for i := range n {
		out := filepath.Join(dir, fmt.Sprintf("out-%d.jsonl", i))
		p := filepath.Join(dir, fmt.Sprintf("pipeline-%d.yaml", i))
		writeFile(t, p, render(i, out))
		in.outs = append(in.outs, out)
		flags := []string{"--no-metrics"}
		if opts.flags != nil {
			flags = opts.flags(i)
		}
		in.procs = append(in.procs, startEdgeflowWith(t, p, flags...))
		if opts.between != nil && i < n-1 {
			opts.between(i)
		}
	}
	return in
}

// seen merges the outputs: how often each seq arrived, and how many records
// each instance wrote.
func (in *instances) seen(t *testing.T) (merged map[int]int, per []int) {
	t.Helper()
	merged = map[int]int{}
	for _, out := range in.outs {
		n := 0
		for seq, c := range seqsInFile(t, out) {
			merged[seq] += c
			n += c
		}
		per = append(per, n)
	}
	return merged, per
}

func (in *instances) stopAll(t *testing.T, except int) {
	t.Helper()
	for i, p := range in.procs {
		if i != except {
			p.stop(t)
		}
	}
}

// jsPublish publishes {"seq": i} for i in [0, n) to subject(i), each with
// its own Nats-Msg-Id and retried until stored, at about rate per second.
func jsPublish(ctx context.Context, js jetstream.JetStream, n, rate int, subject func(int) string, done *atomic.Int64) error {
	tick := time.Second / time.Duration(rate)
	next := time.Now()
	for i := range n {
		for {
			pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			_, err := js.Publish(pctx, subject(i), fmt.Appendf(nil, `{"seq": %d, "sensor": "s%d"}`, i, i%100),
				jetstream.WithMsgID(fmt.Sprint("m", i)))
			cancel()
			if err == nil {
				break
			}
			if ctx.Err() != nil {
				return fmt.Errorf("publish %d: %w", i, err)
			}
			time.Sleep(50 * time.Millisecond) // a server failing over
		}
		done.Add(1)
		if next = next.Add(tick); time.Until(next) > 0 {
			time.Sleep(time.Until(next))
		}
	}
	return nil
}

// record is one line of an output file.
type record struct {
	Seq       int    `json:"seq"`
	Sensor    string `json:"sensor"`
	Delivered int    `json:"delivered"`
}

// linesOf reads a JSON Lines output file; a missing file has no lines.
func linesOf(t *testing.T, path string) [][]byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return bytes.Split(b, []byte("\n"))
}

// records reads a JSON Lines output file, ignoring a torn last line.
func records(t *testing.T, path string) []record {
	t.Helper()
	var out []record
	for _, line := range linesOf(t, path) {
		var r record
		if json.Unmarshal(line, &r) == nil {
			out = append(out, r)
		}
	}
	return out
}

func jsClient(t *testing.T, url string) jetstream.JetStream {
	t.Helper()
	nc, err := nats.Connect(url, nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return js
}

// TestScaleOutSharedDurableSIGKILL runs three edgeflow instances on one
// durable pull consumer. They split the stream; one is killed with SIGKILL
// while its admin server shows it holds unacknowledged messages, and the
// survivors get those after ack_wait. Every message arrives; the duplicates
// are at most what was in flight, which max_ack_pending bounds for the
// whole consumer.
func TestScaleOutSharedDurableSIGKILL(t *testing.T) {
	const total, maxAckPending, victim = 3000, 100, 1
	server := brokertest.StartNATS(t, brokertest.NATSConfig{JetStream: true})
	js := jsClient(t, server.URL())
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	// 100 per-sensor subjects, read whole: the source sets no filter.
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "IN", Subjects: []string{"in.>"}}); err != nil {
		t.Fatal(err)
	}
	group := startInstances(t, 3, func(i int, out string) string {
		// Each instance is slower than the producer, and the victim slower
		// still: what it pulls waits in it long enough to be killed there.
		rate := 300
		if i == victim {
			rate = 50
		}
		return fmt.Sprintf(`
name: scale-out
drain_timeout: 5s
connections:
  bus: {type: nats, url: %s}
sources:
  readings:
    type: nats
    connection: bus
    subjects: [in.>]
    # Three instances hold at most 3 x (20 + 10) of the durable's 100:
    # the slow one cannot take the others' share.
    jetstream: {stream: IN, durable: workers, ack_wait: 2s, max_ack_pending: %d, max_in_flight: 20, pull_batch: 10}
stages:
  pace: {type: throttle, input: readings, rate: %d, burst: 1}
  mark: {type: map, input: pace, set: {delivered: 'int(meta.nats_delivered)'}}
sinks:
  archive: {type: file, input: mark, path: %s, fsync: true}
`, server.URL(), maxAckPending, rate, out)
	}, instanceOptions{flags: func(i int) []string {
		if i == victim {
			return []string{"--metrics-listen", "127.0.0.1:0"}
		}
		return []string{"--no-metrics"}
	}})
	admin := group.procs[victim].adminAddr(t)

	var published atomic.Int64
	pubDone := make(chan error, 1)
	go func() {
		pubDone <- jsPublish(ctx, js, total, 1000, func(i int) string { return fmt.Sprintf("in.s%d", i%100) }, &published)
	}()
	// At 50 a second, five held messages take 100 ms to write: far longer
	// than reading the gauge and killing.
	const held = 5
	var pending float64
	waitUntil(t, 30*time.Second, "every instance to have work, a third of the stream done, the victim holding messages", func() bool {
		merged, per := group.seen(t)
		if len(merged) <= total/3 || per[0] == 0 || per[1] == 0 || per[2] == 0 {
			return false
		}
		var err error
		pending, err = gauge(admin, "edgeflow_nats_jetstream_ack_pending")
		if err != nil {
			t.Fatal(err)
		}
		return pending >= held
	})
	group.procs[victim].kill()
	merged, per := group.seen(t)
	t.Logf("killed instance %d holding %v unacknowledged, with %d of %d delivered (per instance %v), %d published",
		victim, pending, len(merged), total, per, published.Load())

	if err := <-pubDone; err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 40*time.Second, "every message to arrive at the survivors", func() bool {
		merged, _ := group.seen(t)
		return len(merged) >= total
	})
	group.stopAll(t, victim)
	merged, per = group.seen(t)
	dups := checkComplete(t, merged, total)
	t.Logf("all %d delivered, per instance %v; %d duplicates", total, per, dups)
	if dups > maxAckPending {
		t.Errorf("%d duplicates, more than the %d messages the consumer lets be in flight", dups, maxAckPending)
	}
	info, err := js.Consumer(ctx, "IN", "workers")
	if err != nil {
		t.Fatal(err)
	}
	ci, err := info.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if ci.NumAckPending != 0 || ci.NumPending != 0 {
		t.Errorf("consumer still has %d unacknowledged and %d undelivered messages", ci.NumAckPending, ci.NumPending)
	}
	redelivered := 0
	for i, out := range group.outs {
		for _, r := range records(t, out) {
			if r.Delivered > 1 {
				redelivered++
				if i == victim {
					t.Errorf("the killed instance wrote redelivered seq %d", r.Seq)
				}
			}
		}
	}
	t.Logf("%d messages redelivered to the survivors", redelivered)
	if redelivered == 0 {
		t.Error("nothing was redelivered: the killed instance held no messages, so the test proves nothing")
	}
}
