package brokertest

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func dial(t *testing.T, addr string) error {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err == nil {
		c.Close()
	}
	return err
}

func TestMosquittoKillRestart(t *testing.T) {
	m := StartMosquitto(t, MosquittoConfig{Persistence: true, MaxInflight: 7})
	if err := dial(t, m.Addr()); err != nil {
		t.Fatalf("broker not reachable after start: %v", err)
	}
	conf, err := os.ReadFile(filepath.Join(m.Dir(), "mosquitto.conf"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"max_inflight_messages 7", "max_queued_messages 0", "persistence true", "127.0.0.1"} {
		if !strings.Contains(string(conf), want) {
			t.Errorf("config lacks %q:\n%s", want, conf)
		}
	}
	m.Kill()
	if m.Running() {
		t.Fatal("Running after Kill")
	}
	if err := dial(t, m.Addr()); err == nil {
		t.Fatal("port still accepts connections after Kill")
	}
	m.Start()
	if err := dial(t, m.Addr()); err != nil {
		t.Fatalf("not reachable after restart on the same port: %v", err)
	}
	m.Restart() // graceful stop writes the persistence file
	if _, err := os.Stat(filepath.Join(m.Dir(), "mosquitto.db")); err != nil {
		t.Errorf("no persistence file after a graceful stop: %v\n%s", err, m.Log())
	}
}

func TestNATSKillRestart(t *testing.T) {
	n := StartNATS(t, NATSConfig{JetStream: true})
	if !strings.HasPrefix(n.URL(), "nats://127.0.0.1:") {
		t.Fatalf("URL %q", n.URL())
	}
	n.Kill()
	if err := dial(t, n.Addr()); err == nil {
		t.Fatal("port still accepts connections after Kill")
	}
	n.Start()
	if err := dial(t, n.Addr()); err != nil {
		t.Fatalf("not reachable after restart: %v\n%s", err, n.Log())
	}
	if _, err := os.Stat(filepath.Join(n.Dir(), "jetstream")); err != nil {
		t.Errorf("JetStream store directory missing: %v", err)
	}
}

// fatalRecorder records Fatalf instead of ending the test, so that the
// message a missing broker gives can be checked.
type fatalRecorder struct {
	testing.TB
	msg string
}

func (r *fatalRecorder) Helper() {}

func (r *fatalRecorder) Fatalf(format string, args ...any) { r.msg = fmt.Sprintf(format, args...) }

// A missing broker binary fails the test with a message that says how to
// install it; it must never skip.
func TestMissingBinaryFailsWithInstructions(t *testing.T) {
	r := &fatalRecorder{TB: t}
	if p := lookBinary(r, "edgeflow-no-such-broker", "scripts/setup/mosquitto.sh"); p != "" {
		t.Fatalf("found %q", p)
	}
	for _, want := range []string{"edgeflow-no-such-broker not found on PATH or in /usr/sbin", "run `make deps`", "scripts/setup/mosquitto.sh"} {
		if !strings.Contains(r.msg, want) {
			t.Errorf("message %q lacks %q", r.msg, want)
		}
	}
}
