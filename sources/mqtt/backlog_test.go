package mqtt

import (
	"fmt"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/edgeflow/edgeflow/internal/brokertest"
	"github.com/edgeflow/edgeflow/internal/componenttest"
)

// Starting with a large backlog waiting in the persistent session neither
// stalls nor redelivers: the broker pushes the backlog the moment the
// session resumes, ahead of the SUBACK, and the subscribe handshake must not
// queue behind a pipeline that is slower than the broker. (It used to: the
// reader blocked once max_in_flight messages were queued, the subscribe
// timed out, the client reconnected and the broker sent everything in
// flight again.)
func TestRestartWithBacklogNoStallNoRedelivery(t *testing.T) {
	n := 100_000
	if testing.Short() {
		n = 20_000
	}
	// No inflight window: the broker pushes the backlog as fast as the
	// socket takes it, as mosquitto 2.0.11 does to a slow subscriber
	// whatever its max_inflight_messages.
	b := brokertest.StartMosquitto(t, brokertest.MosquittoConfig{Extra: "max_inflight_messages 0"})

	// First run: makes the persistent session and its subscription.
	conn := newConn(t, b.URL(), "edge-backlog")
	stop := running(t, conn, source(t, conn, "{connection: broker, topics: [backlog/#], qos: 1, max_in_flight: 64}"), newCollector(), nil)
	stop()

	// The backlog, published while edgeflow is away.
	pub := publisher(t, b.URL(), "pub-backlog")
	var toks []paho.Token
	for i := range n {
		toks = append(toks, pub.Publish("backlog/a", 1, false, fmt.Appendf(nil, `{"seq":%d}`, i)))
		if len(toks) == 1000 || i == n-1 {
			for _, tok := range toks {
				if !tok.WaitTimeout(30*time.Second) || tok.Error() != nil {
					t.Fatalf("publish: %v", tok.Error())
				}
			}
			toks = toks[:0]
		}
	}

	// Second run, slower than the broker (max_in_flight 64 fills at once).
	conn = newConn(t, b.URL(), "edge-backlog")
	out := newCollector()
	start := time.Now()
	stop = running(t, conn, source(t, conn, "{connection: broker, topics: [backlog/#], qos: 1, max_in_flight: 64}"), out, nil)
	componenttest.WaitFor(t, 5*time.Minute, "the whole backlog", func() bool { d, _ := out.count(); return d == n })
	elapsed := time.Since(start)
	stop()
	distinct, total := out.count()
	st := conn.Stats()
	t.Logf("%d messages in %s; distinct %d, total %d; stats %+v", n, elapsed, distinct, total, st)
	if st.Connects != 1 || st.ConnectFailures != 0 {
		t.Errorf("connects %d, failed attempts %d: want one connect (a subscribe that timed out behind the backlog reconnects)", st.Connects, st.ConnectFailures)
	}
	if total != distinct {
		t.Errorf("%d duplicates delivered: want none", total-distinct)
	}
}
