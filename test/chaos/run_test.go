package chaos

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/edgeflow/edgeflow/internal/brokertest"
)

// fault is one thing done to the system once the stream has progressed
// past at (a fraction of the messages accounted for).
type fault struct {
	at   float64
	name string
	do   func(r *run)
}

// run is one scenario: a source mosquitto, a sink (JetStream or a second
// mosquitto), edgeflow between them, a publisher and a counter.
type run struct {
	t      *testing.T
	n      int // messages published
	src    *brokertest.Mosquitto
	nats   *brokertest.NATS      // the JetStream sink, or nil
	out    *brokertest.Mosquitto // the MQTT sink, or nil
	ef     *edgeflow
	dlPath string

	mu       sync.Mutex
	received map[int]int // seq -> times it reached the sink's broker
	sent     atomic.Int64
}

// poison says which seqs can never be delivered: undecodable payloads and
// payloads above the sink's size limit (4 KiB).
func poison(i int) string {
	switch {
	case i%50 == 7:
		return "undecodable"
	case i%50 == 32:
		return "oversize"
	}
	return ""
}

func payload(i int) []byte {
	switch poison(i) {
	case "undecodable":
		return fmt.Appendf(nil, "garbage-%d", i)
	case "oversize":
		return fmt.Appendf(nil, `{"seq": %d, "pad": %q}`, i, strings.Repeat("x", 8192))
	}
	return fmt.Appendf(nil, `{"seq": %d}`, i)
}

func (r *run) pipelineYAML() string {
	var sink, conn string
	if r.nats != nil {
		sink = `  out: {type: nats, input: pace, connection: out, subject: out.x, jetstream: true, stream: OUT,
        timeout: 2s, retry: {max: -1, backoff: 50ms}}
`
		conn = fmt.Sprintf("  out: {type: nats, url: %s, reconnect_wait: 100ms}\n", r.nats.URL())
	} else {
		sink = `  out: {type: mqtt, input: pace, connection: out, topic: out/x, qos: 1, max_payload: 4096,
        publish_timeout: 2s, retry: {max: -1, backoff: 50ms}}
`
		conn = fmt.Sprintf("  out: {type: mqtt, url: %s, client_id: edgeflow-chaos-out, reconnect_max: 500ms}\n", r.out.URL())
	}
	return fmt.Sprintf(`name: chaos
drain_timeout: 10s
metrics: {enabled: false}
connections:
  src: {type: mqtt, url: %s, client_id: edgeflow-chaos, redelivery_delay: 1s, reconnect_max: 500ms}
%s
sources:
  in: {type: mqtt, connection: src, topics: [chaos/#], qos: 1, max_deliver: 3}
stages:
  # Slower than the publisher: at every fault, messages are in flight.
  pace: {type: throttle, input: in, rate: %d, burst: 20}
sinks:
%s
dead_letter: {type: file, path: %s, fsync: true}
`, r.src.URL(), conn, rate(), sink, r.dlPath)
}

func rate() int {
	if full() {
		return 1000
	}
	return 400
}

// publish sends n messages at QoS 1, retrying (the same seq) across
// source-broker restarts until the broker confirms each.
func (r *run) publish(ctx context.Context) error {
	c := paho.NewClient(paho.NewClientOptions().AddBroker(r.src.URL()).SetClientID("chaos-publisher").
		SetCleanSession(true).SetAutoReconnect(true).SetConnectRetry(true).
		SetConnectRetryInterval(100 * time.Millisecond).SetMaxReconnectInterval(500 * time.Millisecond))
	if tok := c.Connect(); !tok.WaitTimeout(10 * time.Second) {
		return fmt.Errorf("publisher connect: %v", tok.Error())
	}
	defer c.Disconnect(250)
	for i := 0; i < r.n; {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		tok := c.Publish(fmt.Sprintf("chaos/%d", i%4), 1, false, payload(i))
		if !tok.WaitTimeout(3*time.Second) || tok.Error() != nil {
			time.Sleep(100 * time.Millisecond)
			continue // the broker may have it: a duplicate at worst
		}
		r.sent.Add(1)
		i++
		if i%20 == 0 {
			time.Sleep(20 * time.Millisecond) // a sensor stream, not a burst
		}
	}
	return nil
}

// collectMQTT records what reaches out/# on the sink broker, through a
// persistent session that outlives the broker's restarts.
func (r *run) collectMQTT() paho.Client {
	record := func(_ paho.Client, m paho.Message) { r.record(m.Payload()) }
	opts := paho.NewClientOptions().AddBroker(r.out.URL()).SetClientID("chaos-collector").
		SetCleanSession(false).SetAutoReconnect(true).SetConnectRetry(true).SetResumeSubs(true).
		SetConnectRetryInterval(100 * time.Millisecond).SetMaxReconnectInterval(500 * time.Millisecond).
		SetOnConnectHandler(func(c paho.Client) { c.Subscribe("out/#", 1, record) })
	c := paho.NewClient(opts)
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		r.t.Fatalf("collector connect: %v", tok.Error())
	}
	return c
}

func (r *run) record(p []byte) {
	var rec struct{ Seq *int }
	if json.Unmarshal(p, &rec) != nil || rec.Seq == nil {
		return
	}
	r.mu.Lock()
	r.received[*rec.Seq]++
	r.mu.Unlock()
}

// collectJetStream reads the whole OUT stream into r.received.
func (r *run) collectJetStream(ctx context.Context) {
	nc, err := nats.Connect(r.nats.URL())
	if err != nil {
		r.t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	s, err := js.Stream(ctx, "OUT")
	if err != nil {
		r.t.Fatal(err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		r.t.Fatal(err)
	}
	r.mu.Lock()
	clear(r.received)
	r.mu.Unlock()
	cons, err := s.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{})
	if err != nil {
		r.t.Fatal(err)
	}
	for got := uint64(0); got < info.State.Msgs; {
		batch, err := cons.Fetch(500, jetstream.FetchMaxWait(2*time.Second))
		if err != nil {
			r.t.Fatal(err)
		}
		for m := range batch.Messages() {
			r.record(m.Data())
			got++
		}
	}
}

// deadLetters reads the dead-letter file: seq -> times written.
func (r *run) deadLetters() map[int]int {
	out := map[int]int{}
	f, err := os.Open(r.dlPath)
	if err != nil {
		return out
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var rec struct {
			Fields  struct{ Seq *int }
			Payload string
		}
		if json.Unmarshal(sc.Bytes(), &rec) != nil {
			continue // a torn last line: never acknowledged
		}
		switch {
		case rec.Fields.Seq != nil:
			out[*rec.Fields.Seq]++
		case strings.HasPrefix(rec.Payload, "garbage-"):
			if n, err := strconv.Atoi(strings.TrimPrefix(rec.Payload, "garbage-")); err == nil {
				out[n]++
			}
		}
	}
	return out
}

// progress is the fraction of messages accounted for (at the sink or in
// the dead-letter file).
func (r *run) progress() float64 {
	if r.nats != nil {
		r.countJetStream()
	}
	r.mu.Lock()
	n := len(r.received)
	r.mu.Unlock()
	return float64(n+len(r.deadLetters())) / float64(r.n)
}

// countJetStream is a cheap progress reading: the stream's message count.
func (r *run) countJetStream() {
	nc, err := nats.Connect(r.nats.URL(), nats.Timeout(time.Second))
	if err != nil {
		return // the server is down by design
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	s, err := js.Stream(ctx, "OUT")
	if err != nil {
		return
	}
	info, err := s.Info(ctx)
	if err != nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	// Distinct seqs are only known at the end; the count stands in.
	for len(r.received) < int(info.State.Msgs) {
		r.received[-1-len(r.received)] = 1
	}
}

// report is one run's outcome.
type report struct {
	Scenario     string   `json:"scenario"`
	Sent         int      `json:"sent"`
	Good         int      `json:"good"`
	Received     int      `json:"received"`
	Lost         int      `json:"lost"`
	Duplicated   int      `json:"duplicated"`
	DeadLettered int      `json:"dead_lettered"`
	DeadLostOK   int      `json:"poison_not_dead_lettered"`
	DeadDups     int      `json:"dead_letter_duplicates"`
	Faults       []string `json:"faults"`
	Seconds      float64  `json:"seconds"`
	// edgeflow's resident memory, sampled from /proc every 250 ms: the
	// peak over all its processes, and the creep of the longest-lived one
	// (floor of its second half minus peak of its first quarter).
	RSSPeakMB  float64 `json:"rss_peak_mb"`
	RSSCreepMB float64 `json:"rss_creep_mb"`
	RSSSamples int     `json:"rss_samples"`
}

func (r *run) report(name string, faults []string, took time.Duration) report {
	rep := report{Scenario: name, Sent: int(r.sent.Load()), Faults: faults, Seconds: took.Seconds()}
	rep.RSSPeakMB, rep.RSSCreepMB, rep.RSSSamples = r.ef.rss.summary()
	dl := r.deadLetters()
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := range r.n {
		if poison(i) != "" {
			switch c := dl[i]; {
			case c == 0:
				rep.DeadLostOK++
			default:
				rep.DeadLettered++
				rep.DeadDups += c - 1
			}
			if r.received[i] > 0 {
				rep.Lost++ // a poison message must not reach the sink: count it as wrong
			}
			continue
		}
		rep.Good++
		switch c := r.received[i]; {
		case c == 0:
			rep.Lost++
		default:
			rep.Received++
			rep.Duplicated += c - 1
		}
	}
	return rep
}

func writeReport(t *testing.T, rep report) {
	b, _ := json.Marshal(rep)
	t.Logf("report: %s", b)
	if path := os.Getenv("CHAOS_REPORT"); path != "" {
		f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
		if err != nil {
			t.Error(err)
			return
		}
		defer f.Close()
		fmt.Fprintf(f, "%s\n", b)
	}
}

// scenario runs one sink type through faults and checks the outcome.
func scenario(t *testing.T, sinkType string, faults []fault) {
	n := 2000
	if full() {
		n = 10000
	}
	dir := t.TempDir()
	r := &run{t: t, n: n, received: map[int]int{}, dlPath: filepath.Join(dir, "dead.jsonl")}
	// Broker settings zero loss needs: see deploy/mosquitto.
	r.src = brokertest.StartMosquitto(t, brokertest.MosquittoConfig{Persistence: true, MaxInflight: 20,
		Extra: "autosave_on_changes true\nautosave_interval 1"})
	var collector paho.Client
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	if sinkType == "jetstream" {
		// File storage: what the server acknowledged is in its files, which a
		// SIGKILL of the process does not undo (a power cut could, unless
		// the server syncs: sync_interval, nats-server 2.10+).
		r.nats = brokertest.StartNATS(t, brokertest.NATSConfig{JetStream: true})
		nc, err := nats.Connect(r.nats.URL())
		if err != nil {
			t.Fatal(err)
		}
		js, _ := jetstream.New(nc)
		if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "OUT", Subjects: []string{"out.>"},
			Storage: jetstream.FileStorage, MaxMsgSize: 4096}); err != nil {
			t.Fatal(err)
		}
		nc.Close()
	} else {
		r.out = brokertest.StartMosquitto(t, brokertest.MosquittoConfig{Persistence: true, MaxInflight: 20,
			Extra: "autosave_on_changes true\nautosave_interval 1"})
		collector = r.collectMQTT()
		defer collector.Disconnect(250)
	}
	pipeline := filepath.Join(dir, "pipeline.yaml")
	if err := os.WriteFile(pipeline, []byte(r.pipelineYAML()), 0o644); err != nil {
		t.Fatal(err)
	}
	r.ef = &edgeflow{t: t, pipeline: pipeline}
	r.ef.start()
	defer r.ef.stop(syscall.SIGKILL)
	time.Sleep(time.Second) // the persistent session exists before anything is sent

	began := time.Now()
	pubErr := make(chan error, 1)
	go func() { pubErr <- r.publish(ctx) }()
	var done []string
	for _, f := range faults {
		deadline := time.Now().Add(3 * time.Minute)
		for r.progress() < f.at {
			if time.Now().After(deadline) {
				t.Fatalf("stuck at %.0f%% before %q; edgeflow log:\n%s", 100*r.progress(), f.name, tail(r.ef.logs.String()))
			}
			time.Sleep(50 * time.Millisecond)
		}
		t.Logf("%5.1fs at %.0f%%: %s", time.Since(began).Seconds(), 100*r.progress(), f.name)
		f.do(r)
		done = append(done, f.name)
	}
	if err := <-pubErr; err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(3 * time.Minute)
	for r.progress() < 1 && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(2 * time.Second) // stragglers: redeliveries, duplicates
	if err := r.ef.stop(syscall.SIGTERM); err != nil {
		t.Errorf("edgeflow exit after SIGTERM: %v", err)
	}
	if r.nats != nil {
		r.collectJetStream(ctx)
	}
	rep := r.report(t.Name(), done, time.Since(began))
	writeReport(t, rep)
	switch {
	case rep.RSSSamples < 40:
		t.Errorf("only %d RSS samples of edgeflow: too few to tell whether its memory stayed flat", rep.RSSSamples)
	case rep.RSSCreepMB > maxRSSCreepMB:
		t.Errorf("edgeflow's resident memory crept up by %.1f MB in its longest-lived process (limit %d MB): a leak", rep.RSSCreepMB, maxRSSCreepMB)
	case rep.RSSPeakMB > maxRSSMB:
		t.Errorf("edgeflow's resident memory peaked at %.1f MB (limit %d MB)", rep.RSSPeakMB, maxRSSMB)
	}
	if rep.Lost > 0 || rep.DeadLostOK > 0 {
		t.Errorf("lost %d good messages, %d poison messages not dead-lettered; edgeflow log:\n%s",
			rep.Lost, rep.DeadLostOK, tail(r.ef.logs.String()))
	}
}

func tail(s string) string {
	if len(s) > 8000 {
		return "..." + s[len(s)-8000:]
	}
	return s
}
