// Package chaos is edgeflow's fault suite: the binary runs between real
// brokers (mosquitto, nats-server) while the suite kills and restarts them
// and edgeflow itself mid-stream, takes the sink away, and mixes poison
// messages into the stream. Each run reports what was sent, received,
// lost, duplicated and dead-lettered; a run fails on any loss.
//
// `go test ./test/chaos` runs the short matrix (a few minutes);
// EDGEFLOW_CHAOS=full (`make chaos`) runs the long one: more messages,
// every fault twice, and SIGKILL for the brokers too. CHAOS_REPORT=file
// appends one JSON line per run to file.
package chaos

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/edgeflow/edgeflow/internal/brokertest"
	"github.com/edgeflow/edgeflow/internal/syncbuf"
)

var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "edgeflow-chaos")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "edgeflow")
	build := exec.Command("go", "build", "-o", binary, "../../cmd/edgeflow")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building edgeflow:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	if code == 0 {
		if err := goleak.Find(brokertest.IgnorePahoDisconnect); err != nil {
			fmt.Fprintln(os.Stderr, err)
			code = 1
		}
	}
	os.Exit(code)
}

func full() bool { return os.Getenv("EDGEFLOW_CHAOS") == "full" }

// edgeflow runs the binary on one pipeline file, across restarts.
type edgeflow struct {
	t        *testing.T
	pipeline string
	logs     syncbuf.Buffer
	cmd      *exec.Cmd
	done     chan error
	rss      rssLog
}

func (e *edgeflow) start() {
	e.t.Helper()
	e.cmd = exec.Command(binary, "run", "--no-metrics", "--log-format", "json", e.pipeline)
	e.cmd.Stdout, e.cmd.Stderr = &e.logs, &e.logs
	if err := e.cmd.Start(); err != nil {
		e.t.Fatal(err)
	}
	e.done = make(chan error, 1)
	exited := make(chan struct{})
	go func(cmd *exec.Cmd, done chan error) {
		err := cmd.Wait()
		close(exited)
		done <- err
	}(e.cmd, e.done)
	go e.rss.watch(e.cmd.Process.Pid, exited, 250*time.Millisecond)
}

// stop ends the process with sig and returns its exit error.
func (e *edgeflow) stop(sig syscall.Signal) error {
	if e.cmd == nil {
		return nil
	}
	_ = e.cmd.Process.Signal(sig)
	var err error
	select {
	case err = <-e.done:
	case <-time.After(60 * time.Second):
		_ = e.cmd.Process.Kill()
		err = <-e.done
		e.t.Errorf("edgeflow did not stop within 60s of %v", sig)
	}
	e.cmd = nil
	return err
}
