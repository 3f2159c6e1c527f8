package mqtt

import (
	"context"
	"testing"
	"time"

	"github.com/edgeflow/edgeflow/internal/brokertest"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
)

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// A broker killed without having saved edgeflow's session comes back
// without it: the reconnect's CONNACK says session-present false. That is
// message loss edgeflow cannot undo, so it is counted and logged as an
// error, never passed over. A broker that kept the session is not flagged.
func TestSessionLossIsReported(t *testing.T) {
	for _, persist := range []bool{false, true} {
		name := "no persistence"
		if persist {
			name = "persistence"
		}
		t.Run(name, func(t *testing.T) {
			b := brokertest.StartMosquitto(t, brokertest.MosquittoConfig{Persistence: persist})
			c, err := New("s", Options{URL: b.URL(), ClientID: "edge-session", ReconnectMin: 50 * time.Millisecond,
				ReconnectMax: 200 * time.Millisecond, ConnectTimeout: 5 * time.Second}, zerolog.New(zerolog.NewTestWriter(t)))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := c.Register([]string{"x/#"}, 1, 8); err != nil {
				t.Fatal(err)
			}
			if err := c.Start(context.Background()); err != nil {
				t.Fatal(err)
			}
			defer c.Close(context.Background())
			waitFor(t, "connect", c.Connected)
			if persist {
				b.Restart() // SIGTERM: mosquitto saves the session
			} else {
				b.Kill()
				b.Start()
			}
			waitFor(t, "reconnect", func() bool { return c.Stats().Connects == 2 && c.Connected() })
			want := 1.0
			if persist {
				want = 0
			}
			if got := counter(t, c, "session_lost"); got != want {
				t.Fatalf("edgeflow_mqtt_session_lost_total = %v, want %v", got, want)
			}
		})
	}
}

// counter gathers c's metrics and returns the value of edgeflow_mqtt_<name>_total.
func counter(t *testing.T, c *Conn, name string) float64 {
	t.Helper()
	reg := prometheus.NewRegistry()
	if err := reg.Register(c.Metrics()); err != nil {
		t.Fatal(err)
	}
	return gathered(t, reg, "edgeflow_mqtt_"+name+"_total")[0]
}

// gathered returns the values of the series of one counter family.
func gathered(t *testing.T, reg *prometheus.Registry, family string) []float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var out []float64
	for _, mf := range mfs {
		if mf.GetName() == family {
			for _, m := range mf.GetMetric() {
				out = append(out, m.GetCounter().GetValue())
			}
		}
	}
	return out
}

// Two connections register their metrics in one registry, as `edgeflow run`
// does; before, the second failed with "duplicate metrics collector
// registration attempted" and edgeflow exited at start.
func TestTwoConnectionsRegisterMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	for _, name := range []string{"plant", "cloud"} {
		c, err := New(name, Options{URL: "tcp://127.0.0.1:1", ClientID: name}, zerolog.Nop())
		if err != nil {
			t.Fatal(err)
		}
		if err := reg.Register(c.Metrics()); err != nil {
			t.Fatalf("register %s: %v", name, err)
		}
	}
	if n := len(gathered(t, reg, "edgeflow_mqtt_connects_total")); n != 2 {
		t.Fatalf("connects series = %d; want one per connection", n)
	}
}
