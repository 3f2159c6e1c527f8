package nats_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/edgeflow/edgeflow/internal/brokertest"
	"github.com/edgeflow/edgeflow/internal/componenttest"
	"github.com/edgeflow/edgeflow/pipeline"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// admin is a plain nats.go client the tests use as producer and observer;
// it reconnects across broker restarts.
func admin(t *testing.T, url string) (*nats.Conn, jetstream.JetStream) {
	t.Helper()
	nc, err := nats.Connect(url, nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond),
		nats.RetryOnFailedConnect(true))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return nc, js
}

func createStream(t *testing.T, js jetstream.JetStream, name string, subjects ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: name, Subjects: subjects,
		Storage: jetstream.FileStorage, Duplicates: 2 * time.Minute}); err != nil {
		t.Fatalf("create stream %s: %v", name, err)
	}
}

// produce publishes n readings {"seq": i, "sensor": "s<i%4>"} and retries
// each until JetStream acks it; its own Nats-Msg-Id makes the retries
// harmless. acked counts the acknowledged ones.
func produce(js jetstream.JetStream, prefix string, n int, acked *atomic.Int64) error {
	deadline := time.Now().Add(90 * time.Second)
	for i := range n {
		data := fmt.Sprintf(`{"seq":%d,"sensor":"s%d"}`, i, i%4)
		subj := fmt.Sprintf("%s.s%d", prefix, i%4)
		for {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			_, err := js.Publish(ctx, subj, []byte(data), jetstream.WithMsgID(fmt.Sprintf("p-%d", i)))
			cancel()
			if err == nil {
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("message %d never acked: %w", i, err)
			}
			time.Sleep(20 * time.Millisecond)
		}
		acked.Add(1)
	}
	return nil
}

func streamMsgs(t *testing.T, js jetstream.JetStream, name string) uint64 {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	s, err := js.Stream(ctx, name)
	if err != nil {
		return 0 // the server may be restarting
	}
	return s.CachedInfo().State.Msgs
}

// readSeqs reads the whole stream and returns how often each "seq" occurs.
func readSeqs(t *testing.T, js jetstream.JetStream, stream string, n int) map[int]int {
	t.Helper()
	ctx := context.Background()
	cons, err := js.OrderedConsumer(ctx, stream, jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[int]int{}
	total := 0
	for total < n {
		batch, err := cons.Fetch(n-total, jetstream.FetchMaxWait(3*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		got := 0
		for m := range batch.Messages() {
			var v struct{ Seq int }
			if err := json.Unmarshal(m.Data(), &v); err != nil {
				t.Fatalf("stream %s holds %q: %v", stream, m.Data(), err)
			}
			seen[v.Seq]++
			got++
		}
		if got == 0 {
			break
		}
		total += got
	}
	return seen
}

func checkExactlyOnce(t *testing.T, seen map[int]int, n int) {
	t.Helper()
	var missing, dup []int
	for i := range n {
		switch c := seen[i]; {
		case c == 0:
			missing = append(missing, i)
		case c > 1:
			dup = append(dup, i)
		}
	}
	if len(missing) > 0 || len(dup) > 0 || len(seen) != n {
		t.Fatalf("want each of %d readings once; missing %d %v, duplicated %d %v, distinct %d",
			n, len(missing), head(missing), len(dup), head(dup), len(seen))
	}
}

func head(s []int) []int { return s[:min(len(s), 10)] }

func consumerInfo(t *testing.T, js jetstream.JetStream, stream, durable string) *jetstream.ConsumerInfo {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := js.Consumer(ctx, stream, durable)
	if err != nil {
		t.Fatalf("consumer %s: %v", durable, err)
	}
	info, err := c.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return info
}

const forward = `subject: out.{key}
jetstream: true
stream: OUT
msg_id: "{meta.nats_stream}-{meta.nats_stream_seq}"
timeout: 2s`

// (1) nats-server is killed and restarted while a producer publishes and
// edgeflow forwards stream IN to stream OUT. Every reading must end up in
// OUT exactly once: nothing lost (acks only after the PubAck), no duplicate
// kept (Nats-Msg-Id from the source's stream sequence).
func TestServerRestartZeroLoss(t *testing.T) {
	srv := brokertest.StartNATS(t, brokertest.NATSConfig{JetStream: true})
	_, js := admin(t, srv.URL())
	createStream(t, js, "IN", "in.>")
	createStream(t, js, "OUT", "out.>")
	conn := startConn(t, "url: "+srv.URL()+"\nreconnect_wait: 100ms\nreconnect_jitter: 20ms")
	src, err := newSource(t, conn, `subjects: [in.>]
key: {field: sensor}
jetstream:
  stream: IN
  durable: forward
  ack_wait: 2s
  nak_delay: 100ms
  max_nak_delay: 500ms
  max_deliver: 1000`)
	if err != nil {
		t.Fatal(err)
	}
	p := pipeline.New(pipeline.Options{Name: "restart", Buffer: 32, Logger: &logger})
	p.AddSource("src", src, pipeline.NodeOptions{})
	sink := newSink(t, conn, forward)
	p.AddSink("out", sink, []string{"src"},
		pipeline.NodeOptions{Retries: -1, RetryBackoff: 20 * time.Millisecond, BatchSize: 32})
	r := run(t, p)

	const n = 1500
	var acked atomic.Int64
	prod := make(chan error, 1)
	go func() { prod <- produce(js, "in", n, &acked) }()
	componenttest.WaitFor(t, 30*time.Second, "a third of the readings", func() bool { return acked.Load() >= n/3 })
	srv.Kill()
	time.Sleep(300 * time.Millisecond)
	srv.Start()
	if err := <-prod; err != nil {
		t.Fatal(err)
	}
	componenttest.WaitFor(t, 60*time.Second, "all readings in OUT", func() bool { return streamMsgs(t, js, "OUT") >= n })
	// A killed server may have lost acks (and its consumer state rolls back
	// to its last write): it redelivers those messages after ack_wait, and
	// the sink's msg_id makes OUT drop them. Wait for that to settle.
	componenttest.WaitFor(t, 30*time.Second, "the consumer to have nothing pending", func() bool {
		info := consumerInfo(t, js, "IN", "forward")
		return info.NumAckPending == 0 && info.NumPending == 0
	})
	r.stop(t)
	checkExactlyOnce(t, readSeqs(t, js, "OUT", n+10), n)
	if got := streamMsgs(t, js, "IN"); got != n {
		t.Errorf("IN holds %d messages, want %d", got, n)
	}
	t.Logf("duplicates dropped by OUT's dedup: %d; reconnects: %d", sink.Duplicates(), conn.Stats().Reconnects)
	if conn.Stats().Reconnects < 1 {
		t.Errorf("the connection counted no reconnect")
	}
}

// (2) A message the sink keeps rejecting is processed max_deliver times,
// then dead-lettered exactly once and terminated; the others flow.
func TestPoisonMessageDeadLetteredOnce(t *testing.T) {
	srv := brokertest.StartNATS(t, brokertest.NATSConfig{JetStream: true})
	_, js := admin(t, srv.URL())
	conn := startConn(t, "url: "+srv.URL())
	src, err := newSource(t, conn, `subjects: [work.>]
codec: raw
jetstream:
  stream: WORK
  durable: poison
  max_deliver: 3
  nak_delay: 50ms
  max_nak_delay: 200ms`)
	if err != nil {
		t.Fatal(err)
	}
	out := newCollector(func(m *pipeline.Message) error {
		if string(m.Payload) == "poison" {
			return fmt.Errorf("downstream rejects %q", m.Payload)
		}
		return nil
	})
	dl := newCollector(nil)
	p := pipeline.New(pipeline.Options{Name: "poison", Logger: &logger})
	p.AddSource("src", src, pipeline.NodeOptions{})
	p.AddSink("out", out, []string{"src"}, pipeline.NodeOptions{})
	p.SetDeadLetter("dl", dl, pipeline.NodeOptions{})
	r := run(t, p)
	componenttest.WaitFor(t, 15*time.Second, "the source to create its stream", func() bool {
		_, err := js.Stream(context.Background(), "WORK")
		return err == nil
	})
	for _, s := range []string{"good-0", "good-1", "poison", "good-2", "good-3"} {
		if _, err := js.Publish(context.Background(), "work.a", []byte(s)); err != nil {
			t.Fatal(err)
		}
	}
	componenttest.WaitFor(t, 15*time.Second, "good messages and one dead letter", func() bool { return out.count() == 4 && dl.count() == 1 })
	// Give a second dead letter (or a fourth attempt) ample time to show.
	time.Sleep(time.Second)
	r.stop(t)

	if n := dl.count(); n != 1 {
		t.Fatalf("dead letters: %d, want 1", n)
	}
	if n := out.attemptsFor("poison"); n != 3 {
		t.Errorf("the sink saw the poison message %d times, want max_deliver = 3", n)
	}
	d := dl.messages()[0]
	reason := d.Meta[pipeline.MetaDeadLetterError]
	if string(d.Payload) != "poison" || !strings.Contains(reason, "gave up after 3 failed deliveries") ||
		!strings.Contains(reason, "downstream rejects") {
		t.Errorf("dead letter %q, reason %q", d.Payload, reason)
	}
	if d.Meta[pipeline.MetaDeadLetterNode] != "src" || d.Meta["nats_stream_seq"] != "3" {
		t.Errorf("dead letter meta %v", d.Meta)
	}
	for _, g := range []string{"good-0", "good-1", "good-2", "good-3"} {
		if n := out.attemptsFor(g); n != 1 {
			t.Errorf("%s delivered %d times", g, n)
		}
	}
	info := consumerInfo(t, js, "WORK", "poison")
	if info.NumAckPending != 0 || info.NumPending != 0 {
		t.Errorf("consumer left ack pending %d, pending %d: the poison message was not terminated", info.NumAckPending, info.NumPending)
	}
}

var garbage = []string{`{"seq":`, "\xff\xfe", "", `{"a":1}{"b":2}`, "nan"}

// (3) Malformed payloads interleaved with good ones: every bad one is
// dead-lettered with a decode reason, every good one delivered, and the
// JetStream consumer ends with nothing pending. Core NATS does the same
// without acks.
func TestMalformedPayloads(t *testing.T) {
	srv := brokertest.StartNATS(t, brokertest.NATSConfig{JetStream: true})
	nc, js := admin(t, srv.URL())
	for _, mode := range []string{"jetstream", "core"} {
		t.Run(mode, func(t *testing.T) {
			conn := startConn(t, "url: "+srv.URL())
			conf := "subjects: [" + mode + ".>]\nkey: {topic_token: -1}\n"
			if mode == "jetstream" {
				conf += "jetstream:\n  stream: MAL\n  durable: mal\n"
			}
			src, err := newSource(t, conn, conf)
			if err != nil {
				t.Fatal(err)
			}
			out, dl := newCollector(nil), newCollector(nil)
			p := pipeline.New(pipeline.Options{Name: "malformed", Logger: &logger})
			p.AddSource("src", src, pipeline.NodeOptions{})
			p.AddSink("out", out, []string{"src"}, pipeline.NodeOptions{})
			p.SetDeadLetter("dl", dl, pipeline.NodeOptions{})
			r := run(t, p)
			own, _ := conn.Client()
			if mode == "jetstream" {
				componenttest.WaitFor(t, 15*time.Second, "stream", func() bool { _, err := js.Stream(context.Background(), "MAL"); return err == nil })
			} else {
				componenttest.WaitFor(t, 15*time.Second, "subscription", func() bool { return own.NumSubscriptions() > 0 })
				own.Flush()
			}
			const good = 20
			bad := 0
			for i := range good {
				subj := fmt.Sprintf("%s.dev%d", mode, i)
				publish(t, mode, nc, js, subj, fmt.Sprintf(`{"seq":%d}`, i))
				if i%2 == 0 {
					publish(t, mode, nc, js, subj, garbage[bad%len(garbage)])
					bad++
				}
			}
			componenttest.WaitFor(t, 15*time.Second, "all messages", func() bool { return out.count() == good && dl.count() == bad })
			time.Sleep(200 * time.Millisecond) // nothing more may arrive
			r.stop(t)
			if out.count() != good || dl.count() != bad {
				t.Fatalf("delivered %d (want %d), dead letters %d (want %d)", out.count(), good, dl.count(), bad)
			}
			for _, m := range out.messages() {
				if want := fmt.Sprintf("dev%v", m.Fields["seq"]); m.Key != want {
					t.Errorf("key %q, want %q (last subject token)", m.Key, want)
				}
			}
			for _, m := range dl.messages() {
				if !strings.Contains(m.Meta[pipeline.MetaDeadLetterError], "decode") {
					t.Errorf("dead letter %q has reason %q", m.Payload, m.Meta[pipeline.MetaDeadLetterError])
				}
				if strings.HasPrefix(string(m.Payload), `{"seq":`) && len(m.Payload) > len(`{"seq":`) {
					t.Errorf("good payload %q dead-lettered", m.Payload)
				}
			}
			if mode == "jetstream" {
				info := consumerInfo(t, js, "MAL", "mal")
				if info.NumAckPending != 0 || info.NumPending != 0 {
					t.Errorf("consumer left ack pending %d, pending %d", info.NumAckPending, info.NumPending)
				}
			}
		})
	}
}

func publish(t *testing.T, mode string, nc *nats.Conn, js jetstream.JetStream, subj, data string) {
	t.Helper()
	if mode == "core" {
		if err := nc.Publish(subj, []byte(data)); err != nil {
			t.Fatal(err)
		}
		return
	}
	if _, err := js.Publish(context.Background(), subj, []byte(data)); err != nil {
		t.Fatal(err)
	}
}

// (4) The sink's server is down for a while. The source stops taking
// messages (backpressure), holds no more than max_ack_pending of them, and
// once the server is back everything arrives, once.
func TestSinkOutageBackpressure(t *testing.T) {
	a := brokertest.StartNATS(t, brokertest.NATSConfig{JetStream: true})
	b := brokertest.StartNATS(t, brokertest.NATSConfig{JetStream: true})
	_, jsA := admin(t, a.URL())
	_, jsB := admin(t, b.URL())
	createStream(t, jsA, "IN", "in.>")
	createStream(t, jsB, "OUT", "out.>")
	const n, maxAckPending = 400, 40
	var acked atomic.Int64
	if err := produce(jsA, "in", n, &acked); err != nil {
		t.Fatal(err)
	}
	connA := startConn(t, "url: "+a.URL())
	connB := startConn(t, "url: "+b.URL()+"\nreconnect_wait: 50ms\nreconnect_jitter: 10ms")
	src, err := newSource(t, connA, fmt.Sprintf(`subjects: [in.>]
key: {field: sensor}
jetstream:
  stream: IN
  durable: outage
  max_ack_pending: %d
  pull_batch: 10
  ack_wait: 1500ms
  max_deliver: 1000`, maxAckPending))
	if err != nil {
		t.Fatal(err)
	}
	p := pipeline.New(pipeline.Options{Name: "outage", Buffer: 8, Logger: &logger})
	p.AddSource("src", src, pipeline.NodeOptions{})
	p.AddSink("out", newSink(t, connB, forward), []string{"src"},
		pipeline.NodeOptions{Retries: -1, RetryBackoff: 20 * time.Millisecond, BatchSize: 16})
	r := run(t, p)

	componenttest.WaitFor(t, 30*time.Second, "first deliveries", func() bool { return streamMsgs(t, jsB, "OUT") >= 50 })
	b.Kill()
	// While B is down (longer than ack_wait, so progress acks must keep
	// the held messages from being redelivered), sample what the source
	// holds.
	maxHeld, maxInFlight := uint64(0), 0
	for end := time.Now().Add(2500 * time.Millisecond); time.Now().Before(end); time.Sleep(10 * time.Millisecond) {
		st, _ := p.Stats("src")
		maxHeld = max(maxHeld, st.Received-st.Acked-st.Nacked)
		maxInFlight = max(maxInFlight, src.InFlight())
	}
	info := consumerInfo(t, jsA, "IN", "outage")
	if info.NumPending == 0 {
		t.Errorf("the whole stream was pulled while the sink was down: no backpressure")
	}
	if maxHeld > maxAckPending || maxInFlight > maxAckPending {
		t.Errorf("source held up to %d messages (in flight %d), want <= max_ack_pending %d", maxHeld, maxInFlight, maxAckPending)
	}
	if info.NumRedelivered != 0 {
		t.Errorf("%d messages were redelivered during the outage; progress acks should have prevented it", info.NumRedelivered)
	}
	t.Logf("during the outage: held at most %d, server backlog %d, ack pending %d", maxHeld, info.NumPending, info.NumAckPending)
	b.Start()
	componenttest.WaitFor(t, 60*time.Second, "all readings in OUT", func() bool { return streamMsgs(t, jsB, "OUT") >= n })
	r.stop(t)
	checkExactlyOnce(t, readSeqs(t, jsB, "OUT", n+10), n)
	if info := consumerInfo(t, jsA, "IN", "outage"); info.NumAckPending != 0 || info.NumPending != 0 {
		t.Errorf("consumer left ack pending %d, pending %d", info.NumAckPending, info.NumPending)
	}
}

// (5) The embedded server is a real NATS server: a plain client publishes
// into a stream over TCP, edgeflow consumes it and publishes results on a
// core subject the plain client reads.
func TestEmbeddedEndToEnd(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	conn := startConn(t, "url: embedded\nstore_dir: "+t.TempDir()+"\nembedded_listen: 127.0.0.1:"+strconv.Itoa(port))
	src, err := newSource(t, conn, "subjects: [edge.in.>]\nkey: {topic_token: 3}\njetstream:\n  stream: EDGE\n")
	if err != nil {
		t.Fatal(err)
	}
	p := pipeline.New(pipeline.Options{Name: "embedded", Logger: &logger})
	p.AddSource("src", src, pipeline.NodeOptions{})
	p.AddSink("out", newSink(t, conn, "subject: edge.out.{key}\ncodec: json"), []string{"src"}, pipeline.NodeOptions{})

	nc, js := admin(t, "nats://127.0.0.1:"+strconv.Itoa(port))
	sub, err := nc.SubscribeSync("edge.out.>")
	if err != nil {
		t.Fatal(err)
	}
	nc.Flush()
	r := run(t, p)
	componenttest.WaitFor(t, 15*time.Second, "stream", func() bool { _, err := js.Stream(context.Background(), "EDGE"); return err == nil })
	for i := range 5 {
		if _, err := js.Publish(context.Background(), "edge.in.cam"+strconv.Itoa(i), []byte(fmt.Sprintf(`{"seq":%d}`, i))); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 5 {
		msg, err := sub.NextMsg(10 * time.Second)
		if err != nil {
			t.Fatalf("result %d: %v", i, err)
		}
		var v struct{ Seq int }
		if err := json.Unmarshal(msg.Data, &v); err != nil || msg.Subject != fmt.Sprintf("edge.out.cam%d", v.Seq) {
			t.Errorf("result on %s: %q (%v)", msg.Subject, msg.Data, err)
		}
		if msg.Header.Get("nats_stream") != "EDGE" {
			t.Errorf("metadata not forwarded as headers: %v", msg.Header)
		}
	}
	r.stop(t)
	nc.Close()
}
