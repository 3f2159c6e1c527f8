package brokertest

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// MosquittoConfig is the deliberate part of a test broker's configuration.
// The zero value gives a broker that keeps persistent sessions in memory,
// queues without limit and lets 20 QoS 1/2 messages be in flight per client.
type MosquittoConfig struct {
	// Persistence writes sessions and queued messages to the data
	// directory, so they survive Stop+Start (SIGTERM saves everything;
	// after a Kill only what the last autosave wrote survives).
	Persistence bool
	// AutosaveInterval, with Persistence, saves every N seconds (mosquitto's
	// default is 1800). Zero keeps the default.
	AutosaveInterval int
	// MaxInflight is max_inflight_messages: QoS 1/2 messages sent to a
	// client and not yet acknowledged. Zero means 20 (mosquitto's default).
	MaxInflight int
	// MaxQueued is max_queued_messages: messages queued for a client beyond
	// those in flight. Zero means no limit, so a slow or offline persistent
	// client loses nothing (mosquitto's own default of 1000 would drop).
	MaxQueued int
	// Extra is appended to the generated mosquitto.conf verbatim.
	Extra string
}

// Mosquitto is a mosquitto broker child process.
type Mosquitto struct {
	p    *process
	port int
}

// StartMosquitto starts mosquitto on a free 127.0.0.1 port with cfg and a
// fresh data directory under t.TempDir. The broker is killed when the test
// ends.
func StartMosquitto(t testing.TB, cfg MosquittoConfig) *Mosquitto {
	t.Helper()
	bin := lookBinary(t, "mosquitto", "scripts/setup/mosquitto.sh")
	dir := t.TempDir()
	m := &Mosquitto{}
	m.p = launch(t, func(port int) *process {
		m.port = port
		conf := filepath.Join(dir, "mosquitto.conf")
		if err := os.WriteFile(conf, []byte(mosquittoConf(port, dir, cfg)), 0o644); err != nil {
			t.Fatalf("brokertest: write mosquitto.conf: %v", err)
		}
		return &process{t: t, name: "mosquitto", bin: bin, args: []string{"-c", conf},
			addr: fmt.Sprintf("127.0.0.1:%d", port), dir: dir, log: filepath.Join(dir, "mosquitto.log")}
	})
	return m
}

func mosquittoConf(port int, dir string, cfg MosquittoConfig) string {
	inflight := cfg.MaxInflight
	if inflight <= 0 {
		inflight = 20
	}
	var b strings.Builder
	fmt.Fprintf(&b, "listener %d 127.0.0.1\n", port)
	b.WriteString("allow_anonymous true\n")
	// As root, mosquitto would switch to the mosquitto user, which cannot
	// write to the test's temp directory.
	if os.Geteuid() == 0 {
		b.WriteString("user root\n")
	}
	b.WriteString("log_dest stderr\nlog_type error\nlog_type warning\nlog_type notice\nlog_type information\n")
	b.WriteString("connection_messages true\nlog_timestamp_format %H:%M:%S\n")
	fmt.Fprintf(&b, "max_inflight_messages %d\n", inflight)
	fmt.Fprintf(&b, "max_queued_messages %d\n", cfg.MaxQueued)
	b.WriteString("max_queued_bytes 0\n")
	if cfg.Persistence {
		b.WriteString("persistence true\n")
		fmt.Fprintf(&b, "persistence_location %s/\n", dir)
		if cfg.AutosaveInterval > 0 {
			fmt.Fprintf(&b, "autosave_interval %d\n", cfg.AutosaveInterval)
		}
	} else {
		b.WriteString("persistence false\n")
	}
	if cfg.Extra != "" {
		b.WriteString(cfg.Extra)
		b.WriteString("\n")
	}
	return b.String()
}

// URL is the broker's address for paho: tcp://127.0.0.1:port.
func (m *Mosquitto) URL() string { return fmt.Sprintf("tcp://127.0.0.1:%d", m.port) }

// Addr is host:port.
func (m *Mosquitto) Addr() string { return m.p.addr }

// Port is the TCP port, the same across restarts.
func (m *Mosquitto) Port() int { return m.port }

// Dir is the broker's data directory (config, persistence file, log).
func (m *Mosquitto) Dir() string { return m.p.dir }

// Stop shuts the broker down gracefully (SIGTERM): with persistence on, it
// saves sessions and queued messages first.
func (m *Mosquitto) Stop() { m.p.stop(syscall.SIGTERM) }

// Kill ends the broker with SIGKILL, as a power cut would.
func (m *Mosquitto) Kill() { m.p.stop(syscall.SIGKILL) }

// Start starts a stopped broker again on the same port and directory.
func (m *Mosquitto) Start() { m.p.restart() }

// Restart is Stop followed by Start.
func (m *Mosquitto) Restart() {
	m.Stop()
	m.Start()
}

// Running reports whether the broker process is up.
func (m *Mosquitto) Running() bool { return m.p.running() }

// Pid is the broker process's id, 0 while it is stopped: benchmarks read
// its CPU time from /proc to tell whether the broker is the bottleneck.
func (m *Mosquitto) Pid() int { return m.p.pid() }

// Log returns the broker's log so far, for failure messages.
func (m *Mosquitto) Log() string { return m.p.tail() }
