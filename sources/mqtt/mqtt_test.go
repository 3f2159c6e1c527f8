package mqtt

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/edgeflow/edgeflow/component"
	mqttconn "github.com/edgeflow/edgeflow/connections/mqtt"
	"github.com/edgeflow/edgeflow/internal/brokertest"
	"github.com/edgeflow/edgeflow/internal/componenttest"
	"github.com/edgeflow/edgeflow/pipeline"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m, brokertest.IgnorePahoDisconnect) }

// source builds an mqtt source from its YAML options, as the loader would,
// with conn as the connection named "broker".
func source(t *testing.T, conn *mqttconn.Conn, yaml string) pipeline.Source {
	t.Helper()
	return componenttest.MustBuild(t, pipeline.KindSource, "mqtt", yaml, componenttest.WithLogger(testLogger(t)),
		componenttest.WithConnections(map[string]component.Connection{"broker": conn})).(pipeline.Source)
}

// A broker restart in the middle of a stream loses nothing: messages queued
// in the persistent session, and those received but not yet acknowledged,
// come back.
func TestBrokerRestartMidStreamLosesNothing(t *testing.T) {
	b := brokertest.StartMosquitto(t, brokertest.MosquittoConfig{Persistence: true, MaxInflight: 20})
	conn := newConn(t, b.URL(), "edge-restart")
	src := source(t, conn, "{connection: broker, topics: [seq/#], qos: 1}")
	out := newCollector()
	out.delay = 2 * time.Millisecond // a backlog builds up at the broker
	stop := running(t, conn, src, out, nil)

	const n = 1500
	pub := publisher(t, b.URL(), "pub-1")
	publishSeq(t, pub, "seq/a", 0, n, func(int) []byte { return nil })
	pub.Disconnect(250)
	componenttest.WaitFor(t, 30*time.Second, "some deliveries", func() bool { d, _ := out.count(); return d > 200 })

	before, _ := out.count()
	b.Restart() // SIGTERM (mosquitto saves the session), then start again
	if before >= n {
		t.Fatalf("stream finished (%d) before the restart; the test proves nothing", before)
	}
	pub2 := publisher(t, b.URL(), "pub-2")
	publishSeq(t, pub2, "seq/b", n, n+200, func(int) []byte { return nil })

	componenttest.WaitFor(t, 90*time.Second, "every sequence number", func() bool { d, _ := out.count(); return d == n+200 })
	stop()
	distinct, total := out.count()
	for i := range n + 200 {
		if !out.has(i) {
			t.Errorf("seq %d lost", i)
		}
	}
	st := conn.Stats()
	t.Logf("restart at %d/%d delivered; distinct %d, total %d (duplicates %d); stats %+v", before, n, distinct, total, total-distinct, st)
	if st.Connects < 2 {
		t.Errorf("connects = %d: the source never reconnected", st.Connects)
	}
}

// Malformed payloads, and payloads without the time field or with one that
// is not a time, go to the dead-letter sink with a reason naming the codec or
// the field; good ones are all delivered; all are acknowledged.
func TestMalformedPayloadsDeadLettered(t *testing.T) {
	b := brokertest.StartMosquitto(t, brokertest.MosquittoConfig{})
	conn := newConn(t, b.URL(), "edge-malformed")
	src := source(t, conn, "{connection: broker, topics: [m/+/v], key: {topic_token: 2}, time: {field: ts}}")
	out, dl := newCollector(), newCollector()
	stop := running(t, conn, src, out, dl)

	const n = 600
	reasons := func(i int) string {
		switch {
		case i%5 == 0:
			return "json"
		case i%7 == 3:
			return `time.field "ts": cannot parse time "noon"`
		case i%2 == 1:
			return `time.field "ts" is missing`
		}
		return ""
	}
	pub := publisher(t, b.URL(), "pub-m")
	publishSeq(t, pub, "m/s1/v", 0, n, func(i int) []byte {
		switch {
		case i%5 == 0:
			return []byte(fmt.Sprintf("bad-%d", i))
		case i%7 == 3: // decodes, but its time does not parse
			return []byte(fmt.Sprintf(`{"seq": %d, "ts": "noon"}`, i))
		case i%2 == 0:
			return []byte(fmt.Sprintf(`{"seq": %d, "ts": 1714564800.25}`, i))
		}
		return nil // no ts
	})
	componenttest.WaitFor(t, 60*time.Second, "all messages", func() bool {
		g, _ := out.count()
		d, _ := dl.count()
		return g+d >= n
	})
	stop()
	nbad := 0
	for i := range n {
		bad := reasons(i) != ""
		if bad {
			nbad++
		}
		if bad && (!dl.has(i) || out.has(i)) {
			t.Errorf("bad payload %d: dead-lettered %v, delivered %v", i, dl.has(i), out.has(i))
		}
		if !bad && (!out.has(i) || dl.has(i)) {
			t.Errorf("good payload %d: delivered %v, dead-lettered %v", i, out.has(i), dl.has(i))
		}
	}
	for seq, reason := range dl.errs {
		if want := reasons(seq); !strings.Contains(reason, want) {
			t.Errorf("dead letter %d: reason %q does not say %s", seq, reason, want)
		}
	}
	if got := len(dl.errs); got != nbad {
		t.Errorf("%d dead letters carry a reason, want %d", got, nbad)
	}
	st := conn.Stats()
	if st.Acked != n || st.Stranded != 0 {
		t.Errorf("acked %d stranded %d, want %d and 0: %+v", st.Acked, st.Stranded, n, st)
	}
}

// A message without the key field goes to the dead-letter sink with a
// reason naming the field; the others are keyed by it.
func TestMissingKeyFieldDeadLettered(t *testing.T) {
	b := brokertest.StartMosquitto(t, brokertest.MosquittoConfig{})
	conn := newConn(t, b.URL(), "edge-nokey")
	src := source(t, conn, "{connection: broker, topics: [k/#], key: {field: sensor}}")
	out, dl := newCollector(), newCollector()
	stop := running(t, conn, src, out, dl)
	const n = 30
	publishSeq(t, publisher(t, b.URL(), "pub-k"), "k/x", 0, n, func(i int) []byte {
		if i%3 == 0 {
			return nil // {"seq": i}, no sensor
		}
		return []byte(fmt.Sprintf(`{"seq": %d, "sensor": "s%d"}`, i, i%4))
	})
	componenttest.WaitFor(t, 30*time.Second, "all messages", func() bool {
		g, _ := out.count()
		d, _ := dl.count()
		return g+d >= n
	})
	stop()
	for i := range n {
		if i%3 == 0 {
			if !dl.has(i) || out.has(i) || !strings.Contains(dl.errs[i], `key.field "sensor" is missing`) {
				t.Errorf("message %d without a key: dead-lettered %v (%q), delivered %v", i, dl.has(i), dl.errs[i], out.has(i))
			}
		} else if want := fmt.Sprintf("s%d", i%4); !out.has(i) || out.keys[i] != want {
			t.Errorf("message %d: delivered %v with key %q, want %q", i, out.has(i), out.keys[i], want)
		}
	}
}

// While the sink fails, the source holds back (the broker's window fills
// with unacknowledged messages); once the sink recovers, every message is
// delivered. Redeliveries are counted as duplicates.
func TestSinkFailureBackpressureNoLoss(t *testing.T) {
	b := brokertest.StartMosquitto(t, brokertest.MosquittoConfig{MaxInflight: 10})
	conn := newConn(t, b.URL(), "edge-sinkfail")
	src := source(t, conn, "{connection: broker, topics: [f/#]}")
	out := newCollector()
	out.setFailing(true)
	stop := running(t, conn, src, out, nil)

	const n = 1000
	pub := publisher(t, b.URL(), "pub-f")
	publishSeq(t, pub, "f/x", 0, n, func(int) []byte { return nil })
	time.Sleep(2 * time.Second) // the sink is down meanwhile
	during := conn.Stats()
	out.setFailing(false)

	componenttest.WaitFor(t, 90*time.Second, "every sequence number", func() bool { d, _ := out.count(); return d == n })
	stop()
	distinct, total := out.count()
	st := conn.Stats()
	t.Logf("while failing: received %d of %d, nacked %d, redelivery reconnects %d; after: distinct %d total %d; %+v",
		during.Received, n, during.Nacked, during.RedeliveryReconnects, distinct, total, st)
	if during.Nacked == 0 || during.RedeliveryReconnects == 0 {
		t.Errorf("failures were not nacked and redelivered: %+v", during)
	}
	// Backpressure: in 2s of failure the source took only a few windows'
	// worth, not the whole backlog.
	if during.Received >= n/2 {
		t.Errorf("received %d of %d while the sink was down: not backpressured", during.Received, n)
	}
	if distinct != n {
		t.Errorf("distinct %d, want %d", distinct, n)
	}
}

// Shared subscriptions split one stream between two sources (two sessions).
func TestSharedSubscriptionSplits(t *testing.T) {
	b := brokertest.StartMosquitto(t, brokertest.MosquittoConfig{})
	outs := []*collector{newCollector(), newCollector()}
	for i, out := range outs {
		conn := newConn(t, b.URL(), fmt.Sprintf("edge-share-%d", i))
		src := source(t, conn, "{connection: broker, topics: [$share/grp/sh/#]}")
		running(t, conn, src, out, nil)
	}
	const n = 400
	pub := publisher(t, b.URL(), "pub-s")
	publishSeq(t, pub, "sh/1", 0, n, func(int) []byte { return nil })
	componenttest.WaitFor(t, 60*time.Second, "all messages", func() bool {
		a, _ := outs[0].count()
		b, _ := outs[1].count()
		return a+b >= n
	})
	a, _ := outs[0].count()
	c, _ := outs[1].count()
	t.Logf("split %d / %d", a, c)
	if a == 0 || c == 0 {
		t.Fatalf("not split: %d / %d", a, c)
	}
	for i := range n {
		if outs[0].has(i) == outs[1].has(i) {
			t.Errorf("seq %d delivered to both or neither", i)
		}
	}
}

// The embedded broker serves plain paho clients, and an edgeflow source on
// it.
func TestEmbeddedBrokerInterop(t *testing.T) {
	addr := freeAddr(t)
	conn, err := mqttconn.New("emb", mqttconn.Options{URL: mqttconn.Embedded, EmbeddedListen: addr,
		ClientID: "edge-emb"}, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	src := source(t, conn, "{connection: broker, topics: [e/#]}")
	out := newCollector()
	out.delay = time.Millisecond
	running(t, conn, src, out, nil)

	url := "tcp://" + addr
	var mu sync.Mutex
	got := map[string]bool{}
	sub := paho.NewClient(paho.NewClientOptions().AddBroker(url).SetClientID("plain-sub").SetCleanSession(true))
	if tok := sub.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("plain subscriber connect: %v", tok.Error())
	}
	defer sub.Disconnect(250)
	if tok := sub.Subscribe("e/#", 1, func(_ paho.Client, m paho.Message) {
		mu.Lock()
		got[string(m.Payload())] = true
		mu.Unlock()
	}); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("plain subscribe: %v", tok.Error())
	}
	const n = 3000
	pub := publisher(t, url, "plain-pub")
	publishSeq(t, pub, "e/1", 0, n, func(int) []byte { return nil })
	start := time.Now()
	componenttest.WaitFor(t, 60*time.Second, "plain subscriber and edgeflow source to get everything", func() bool {
		mu.Lock()
		g := len(got)
		mu.Unlock()
		d, _ := out.count()
		if g == n && d == n {
			return true
		}
		if time.Since(start) > 5*time.Second && time.Since(start) < 5100*time.Millisecond {
			t.Logf("after 5s: plain %d, edgeflow %d, %+v", g, d, conn.Stats())
		}
		return false
	})
}
