package brokertest

import (
	"fmt"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
)

// NATSConfig is the deliberate part of a test nats-server's configuration.
type NATSConfig struct {
	// JetStream enables JetStream with its store in the data directory,
	// which survives Stop+Start and Kill+Start.
	JetStream bool
	// Args are extra command-line arguments for nats-server.
	Args []string
	// Binary is the nats-server to run; empty means the installed one
	// (Debian's 2.9 here). EmbeddedNATSServer builds the version edgeflow
	// embeds.
	Binary string
}

// NATS is a nats-server child process.
type NATS struct {
	p    *process
	port int
}

// StartNATS starts nats-server on a free 127.0.0.1 port with a fresh data
// directory under t.TempDir. The server is killed when the test ends.
func StartNATS(t testing.TB, cfg NATSConfig) *NATS {
	t.Helper()
	bin := cfg.Binary
	if bin == "" {
		bin = lookBinary(t, "nats-server", "scripts/setup/nats-server.sh")
	}
	dir := t.TempDir()
	n := &NATS{}
	n.p = launch(t, func(port int) *process {
		n.port = port
		args := []string{"-a", "127.0.0.1", "-p", strconv.Itoa(port), "-n", fmt.Sprintf("brokertest-%d", port)}
		if cfg.JetStream {
			args = append(args, "-js", "-sd", filepath.Join(dir, "jetstream"))
		}
		args = append(args, cfg.Args...)
		return &process{t: t, name: "nats-server", bin: bin, args: args,
			addr: fmt.Sprintf("127.0.0.1:%d", port), dir: dir, log: filepath.Join(dir, "nats-server.log")}
	})
	return n
}

// URL is the server's address for nats.go: nats://127.0.0.1:port.
func (n *NATS) URL() string { return fmt.Sprintf("nats://127.0.0.1:%d", n.port) }

// Addr is host:port.
func (n *NATS) Addr() string { return n.p.addr }

// Port is the TCP port, the same across restarts.
func (n *NATS) Port() int { return n.port }

// Dir is the server's data directory (JetStream store, log).
func (n *NATS) Dir() string { return n.p.dir }

// Stop shuts the server down gracefully (SIGTERM).
func (n *NATS) Stop() { n.p.stop(syscall.SIGTERM) }

// Kill ends the server with SIGKILL, as a power cut would.
func (n *NATS) Kill() { n.p.stop(syscall.SIGKILL) }

// Start starts a stopped server again on the same port and directory.
func (n *NATS) Start() { n.p.restart() }

// Restart is Stop followed by Start.
func (n *NATS) Restart() {
	n.Stop()
	n.Start()
}

// Running reports whether the server process is up.
func (n *NATS) Running() bool { return n.p.running() }

// Log returns the server's log so far, for failure messages.
func (n *NATS) Log() string { return n.p.tail() }
