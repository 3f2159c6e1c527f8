package reload_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/edgeflow/edgeflow/config"
	"github.com/edgeflow/edgeflow/internal/admin"
	"github.com/edgeflow/edgeflow/internal/brokertest"
	"github.com/edgeflow/edgeflow/internal/reload"
	"github.com/edgeflow/edgeflow/models/modeltest"
	"github.com/edgeflow/edgeflow/pipeline"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"go.uber.org/goleak"

	_ "github.com/edgeflow/edgeflow/connections/nats"
	_ "github.com/edgeflow/edgeflow/sinks"
	_ "github.com/edgeflow/edgeflow/sources"
	_ "github.com/edgeflow/edgeflow/stages"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var logger = zerolog.New(zerolog.ConsoleWriter{Out: os.Stderr, NoColor: true}).Level(zerolog.WarnLevel).With().Timestamp().Logger()

// pipelineYAML reads JetStream stream READINGS through a durable consumer,
// tags each reading with version, and appends it to out.
func pipelineYAML(url, out string, version int, extra string) string {
	return fmt.Sprintf(`name: reload-test
drain_timeout: 20s
connections:
  bus: {type: nats, url: %q}
sources:
  readings:
    type: nats
    connection: bus
    subjects: [readings.>]
    jetstream: {stream: READINGS, durable: reload-test, ack_wait: 5s}
stages:
  tag:
    type: map
    input: readings
    set: {version: %d}
%ssinks:
  out:
    type: file
    input: tag
    path: %q
`, url, version, extra, out)
}

// TestReloadLosesNothing streams readings through two reloads (one that
// changes a stage, one invalid that must be rejected) and a third that adds
// a stage, and checks that every reading reached the sink at least once.
func TestReloadLosesNothing(t *testing.T) {
	srv := brokertest.StartNATS(t, brokertest.NATSConfig{JetStream: true})
	dir := t.TempDir()
	path, out := filepath.Join(dir, "pipeline.yaml"), filepath.Join(dir, "out.jsonl")
	write := func(s string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(pipelineYAML(srv.URL(), out, 1, ""))

	r, ctx, _, end := runFile(t, path)
	waitFor(t, "the pipeline to run", r.Ready)
	connBefore := r.View().Connections["bus"]
	sinkBefore := r.View().Components["out"]

	// A producer publishes readings 0..n-1 while the reloads happen.
	const n = 3000
	nc, err := nats.Connect(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	produced := make(chan error, 1)
	go func() {
		for i := range n {
			pctx, pcancel := context.WithTimeout(ctx, 5*time.Second)
			_, err := js.Publish(pctx, fmt.Sprintf("readings.s%d", i%4), fmt.Appendf(nil, `{"seq":%d}`, i),
				jetstream.WithMsgID(fmt.Sprint(i)))
			pcancel()
			if err != nil {
				produced <- fmt.Errorf("publish %d: %w", i, err)
				return
			}
			if i%10 == 0 {
				time.Sleep(time.Millisecond)
			}
		}
		produced <- nil
	}()

	waitFor(t, "readings to flow", func() bool { return len(readSeqs(t, out)) > n/10 })
	write(pipelineYAML(srv.URL(), out, 2, ""))
	if err := r.Reload(ctx); err != nil {
		t.Fatalf("reload v2: %v", err)
	}
	v := r.View()
	if v.Generation != 1 || v.Reload.Count != 1 {
		t.Errorf("after a reload generation %d, count %d; want 1, 1", v.Generation, v.Reload.Count)
	}
	if v.Connections["bus"] != connBefore {
		t.Errorf("the unchanged connection was replaced")
	}
	if v.Components["out"] != sinkBefore {
		t.Errorf("the unchanged sink was replaced")
	}

	// An invalid file is rejected with its position; the pipeline goes on.
	write(pipelineYAML(srv.URL(), out, 3, "  bogus:\n    type: map\n    input: nowhere\n    set: {x: 1}\n"))
	err = r.Reload(ctx)
	if err == nil || !strings.Contains(err.Error(), path+":") || !strings.Contains(err.Error(), "nowhere") {
		t.Fatalf("reload of an invalid file = %v, want an error at %s:line:col naming the input", err, path)
	}
	if r.View().Generation != 1 {
		t.Fatalf("the running pipeline did not survive a rejected reload")
	}
	// Reload returns once the new pipeline was swapped in; its sources
	// report ready a moment later (a busy CI box showed the gap).
	waitFor(t, "the running pipeline to be ready after the rejected reload", r.Ready)
	before := len(readSeqs(t, out))
	waitFor(t, "readings to go on flowing after the rejected reload", func() bool { return len(readSeqs(t, out)) > before })

	// A third version adds a filter stage between tag and out: out's input
	// changes, so it is rebuilt too.
	write(strings.Replace(pipelineYAML(srv.URL(), out, 3, "  keep:\n    type: filter\n    input: tag\n    condition: seq >= 0\n"),
		"input: tag\n    path:", "input: keep\n    path:", 1))
	if err := r.Reload(ctx); err != nil {
		t.Fatalf("reload v3: %v", err)
	}
	if r.View().Components["out"] == sinkBefore {
		t.Errorf("the sink whose input changed was kept")
	}

	if err := <-produced; err != nil {
		t.Fatal(err)
	}
	waitFor(t, "every reading at the sink", func() bool { return len(readSeqs(t, out)) == n })
	seqs := readSeqs(t, out)
	versions := map[float64]bool{}
	dups := 0
	for _, c := range seqs {
		dups += c.count - 1
		for _, v := range c.versions {
			versions[v] = true
		}
	}
	for _, want := range []float64{1, 2, 3} {
		if !versions[want] {
			t.Errorf("no reading went through version %v of the pipeline", want)
		}
	}
	t.Logf("%d readings, %d delivered twice (at least once), through versions %v", n, dups, versions)

	// The metrics of whichever pipeline runs now: the kept connection's
	// counters span every version; the JetStream consumer's are the last
	// source's.
	reg := prometheus.NewRegistry()
	reg.MustRegister(r.Metrics())
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			got[mf.GetName()] += m.GetCounter().GetValue() + m.GetGauge().GetValue()
		}
	}
	if got["edgeflow_nats_in_msgs_total"] < n || got["edgeflow_nats_connected"] != 1 {
		t.Errorf("connection metrics: in_msgs %v (want >= %d), connected %v", got["edgeflow_nats_in_msgs_total"], n, got["edgeflow_nats_connected"])
	}
	if acks := got["edgeflow_nats_jetstream_acks_total"]; acks == 0 || acks > got["edgeflow_nats_jetstream_delivered_total"] {
		t.Errorf("jetstream metrics: %v acks of %v deliveries", acks, got["edgeflow_nats_jetstream_delivered_total"])
	}
	if got["edgeflow_node_received_total"] == 0 {
		t.Errorf("no pipeline metrics: %v", got)
	}

	end()
	if err := r.Reload(context.Background()); err != reload.ErrStopped {
		t.Errorf("Reload after Run = %v, want ErrStopped", err)
	}
}

type seen struct {
	count    int
	versions []float64
}

// readSeqs reads the sink's JSON lines: how often each seq was delivered.
func readSeqs(t *testing.T, path string) map[int]*seen {
	t.Helper()
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[int]*seen{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var rec struct {
			Seq     *int    `json:"seq"`
			Version float64 `json:"version"`
		}
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil || rec.Seq == nil {
			continue // a line being written
		}
		s := out[*rec.Seq]
		if s == nil {
			s = &seen{}
			out[*rec.Seq] = s
		}
		s.count++
		s.versions = append(s.versions, rec.Version)
	}
	return out
}

// generateToDrop is a pipeline of a generator at rate (a YAML value, valid
// or not: it stands on line 3) into a drop sink.
func generateToDrop(rate string) string {
	return "name: watched\nsources:\n  gen: {type: generate, keys: 2, rate: " + rate + "}\n" +
		"sinks:\n  out: {type: drop, input: gen}\n"
}

// runFile runs the pipeline file at path under a reload.Runner until ctx
// is cancelled. end cancels it, waits for the run to drain and closes the
// runner, failing the test on their errors; call it after whatever else
// runs under ctx has stopped.
func runFile(t *testing.T, path string) (r *reload.Runner, ctx context.Context, cancel context.CancelFunc, end func()) {
	t.Helper()
	f, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel = context.WithCancel(context.Background())
	t.Cleanup(cancel)
	r, err = reload.New(ctx, f, logger)
	if err != nil {
		t.Fatal(err)
	}
	runErr := make(chan error, 1)
	go func() { runErr <- r.Run(ctx) }()
	return r, ctx, cancel, func() {
		t.Helper()
		cancel()
		if err := <-runErr; err != nil {
			t.Fatalf("run: %v", err)
		}
		if err := r.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestWatchReloadsOnChange: with Watch, writing the file is enough; an
// invalid version is rejected and recorded, the running graph stays.
func TestWatchReloadsOnChange(t *testing.T) {
	path := filepath.Join(t.TempDir(), "pipeline.yaml")
	if err := os.WriteFile(path, []byte(generateToDrop("100")), 0o644); err != nil {
		t.Fatal(err)
	}
	r, ctx, cancel, end := runFile(t, path)
	watched := make(chan struct{})
	go func() { defer close(watched); r.Watch(ctx, 20*time.Millisecond) }()
	waitFor(t, "the pipeline to run", r.Ready)

	// A different size, so the change shows even within one mtime tick.
	if err := os.WriteFile(path, []byte(generateToDrop("2000")), 0o644); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the watched change to be reloaded", func() bool { return r.View().Generation == 1 })

	if err := os.WriteFile(path, []byte(generateToDrop("-5")), 0o644); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the invalid change to be rejected", func() bool { return r.View().Reload.LastError != "" })
	if v := r.View(); v.Generation != 1 || !strings.Contains(v.Reload.LastError, path+":3:") {
		t.Errorf("after an invalid change: generation %d, error %q", v.Generation, v.Reload.LastError)
	}

	cancel()
	<-watched
	end()
}

// TestReloadKeepsModelSession: a reload that changes another node keeps
// the onnx stage, with its loaded model, and the model goes on scoring.
func TestReloadKeepsModelSession(t *testing.T) {
	modeltest.RequireRuntime(t)
	dir := t.TempDir()
	(&modeltest.MLP{In: 16, Hidden: 32, Out: 4, Seed: 1}).Write(t, dir, "mlp.onnx")
	path := filepath.Join(dir, "pipeline.yaml")
	version := func(rate int) string {
		return fmt.Sprintf(`name: model-reload
sources:
  gen: {type: generate, keys: 2, rate: %d}
stages:
  windows: {type: window, input: gen, size: 16}
  model: {type: onnx, input: windows, model: mlp.onnx, inputs: {x: window}, outputs: {y: score}, threads: 1}
sinks:
  out: {type: drop, input: model}
`, rate)
	}
	if err := os.WriteFile(path, []byte(version(500)), 0o644); err != nil {
		t.Fatal(err)
	}
	r, ctx, _, end := runFile(t, path)
	modelStats := func() pipeline.Stats {
		st, _ := r.View().Pipeline.Stats("model")
		return st
	}
	waitFor(t, "the model to score", func() bool { return modelStats().Emitted > 0 })
	before := r.View().Components["model"]
	if _, sum, loaded := before.(admin.Modeler).ModelVersion(); !loaded || sum == "" {
		t.Fatal("the model is not loaded before the reload")
	}

	if err := os.WriteFile(path, []byte(version(1000)), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := r.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	after := r.View().Components["model"]
	if after != before {
		t.Fatal("the unchanged onnx stage was rebuilt")
	}
	if gen := r.View().Generation; gen != 1 {
		t.Fatalf("generation %d after the reload", gen)
	}
	waitFor(t, "the kept model to score in the new pipeline", func() bool { return modelStats().Emitted > 0 })
	if st := modelStats(); st.Errors != 0 {
		t.Errorf("the kept model failed %d messages after the reload", st.Errors)
	}
	if _, _, loaded := after.(admin.Modeler).ModelVersion(); !loaded {
		t.Error("the kept model lost its session")
	}

	end()
}

// TestReloadLosesNothingMQTT streams QoS 1 readings from Mosquitto through
// a reload: the kept connection's persistent session has the broker
// deliver again whatever was not acknowledged, so every reading reaches
// the sink at least once.
func TestReloadLosesNothingMQTT(t *testing.T) {
	broker := brokertest.StartMosquitto(t, brokertest.MosquittoConfig{})
	dir := t.TempDir()
	path, out := filepath.Join(dir, "pipeline.yaml"), filepath.Join(dir, "out.jsonl")
	version := func(v int) string {
		return fmt.Sprintf(`name: reload-mqtt
drain_timeout: 20s
connections:
  plant: {type: mqtt, url: %q, client_id: reload-test, redelivery_delay: 300ms}
sources:
  readings: {type: mqtt, connection: plant, topics: [readings/+], qos: 1}
stages:
  tag: {type: map, input: readings, set: {version: %d}}
sinks:
  out: {type: file, input: tag, path: %q}
`, broker.URL(), v, out)
	}
	if err := os.WriteFile(path, []byte(version(1)), 0o644); err != nil {
		t.Fatal(err)
	}
	r, ctx, _, end := runFile(t, path)
	waitFor(t, "the pipeline to run", r.Ready)

	const n = 2000
	pub := paho.NewClient(paho.NewClientOptions().AddBroker(broker.URL()).SetClientID("reload-publisher").SetCleanSession(true))
	if tok := pub.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("publisher connect: %v", tok.Error())
	}
	defer pub.Disconnect(250)
	produced := make(chan error, 1)
	go func() {
		for i := range n {
			tok := pub.Publish(fmt.Sprintf("readings/s%d", i%4), 1, false, fmt.Appendf(nil, `{"seq":%d}`, i))
			if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
				produced <- fmt.Errorf("publish %d: %v", i, tok.Error())
				return
			}
		}
		produced <- nil
	}()

	waitFor(t, "readings to flow", func() bool { return len(readSeqs(t, out)) > n/10 })
	for v := 2; v <= 3; v++ {
		if err := os.WriteFile(path, []byte(version(v)), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := r.Reload(ctx); err != nil {
			t.Fatalf("reload v%d: %v", v, err)
		}
		before := len(readSeqs(t, out))
		waitFor(t, "readings to flow after the reload", func() bool { return len(readSeqs(t, out)) > before })
	}
	if err := <-produced; err != nil {
		t.Fatal(err)
	}
	waitFor(t, "every reading at the sink", func() bool { return len(readSeqs(t, out)) == n })
	dups := 0
	for _, c := range readSeqs(t, out) {
		dups += c.count - 1
	}
	t.Logf("%d readings through 2 reloads, %d delivered twice", n, dups)

	end()
}

// TestWatchSeesChangeMadeBeforeItStarted: a change written after the file
// was loaded but before Watch took its first look is still reloaded (CI
// once lost this race and waited for a reload that never came).
func TestWatchSeesChangeMadeBeforeItStarted(t *testing.T) {
	path := filepath.Join(t.TempDir(), "pipeline.yaml")
	if err := os.WriteFile(path, []byte(generateToDrop("100")), 0o644); err != nil {
		t.Fatal(err)
	}
	r, ctx, cancel, end := runFile(t, path)
	waitFor(t, "the pipeline to run", r.Ready)
	if err := os.WriteFile(path, []byte(generateToDrop("2000")), 0o644); err != nil {
		t.Fatal(err)
	}
	watched := make(chan struct{})
	go func() { defer close(watched); r.Watch(ctx, 20*time.Millisecond) }()
	waitFor(t, "the early change to be reloaded", func() bool { return r.View().Generation == 1 })

	cancel()
	<-watched
	end()
}
