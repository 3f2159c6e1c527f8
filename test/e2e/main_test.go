// Package e2e tests the edgeflow binary as users run it, against real
// brokers: it is killed, restarted and starved, and the tests count what
// arrives.
package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/edgeflow/edgeflow/internal/syncbuf"
	"go.uber.org/goleak"
)

var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "edgeflow-e2e")
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
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			code = 1
		}
	}
	os.Exit(code)
}

// edgeflow is one running edgeflow process.
type edgeflow struct {
	cmd  *exec.Cmd
	logs *syncbuf.Buffer
	done chan error
}

// startEdgeflow runs `edgeflow run` on pipeline without an admin server.
func startEdgeflow(t *testing.T, pipeline string) *edgeflow {
	t.Helper()
	return startEdgeflowWith(t, pipeline, "--no-metrics")
}

// startEdgeflowWith runs `edgeflow run` on pipeline with the given flags.
func startEdgeflowWith(t *testing.T, pipeline string, flags ...string) *edgeflow {
	t.Helper()
	args := append(append([]string{"run"}, flags...), "--log-format", "json", pipeline)
	cmd := exec.Command(binary, args...)
	logs := &syncbuf.Buffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	e := &edgeflow{cmd: cmd, logs: logs, done: make(chan error, 1)}
	go func() { e.done <- cmd.Wait() }()
	t.Cleanup(func() {
		if e.cmd.ProcessState == nil {
			e.kill()
		}
	})
	return e
}

// kill ends the process with SIGKILL: no drain, no flush, no goodbye.
func (e *edgeflow) kill() {
	_ = e.cmd.Process.Signal(syscall.SIGKILL)
	<-e.done
}

// stop asks for a graceful stop and waits for the exit status.
func (e *edgeflow) stop(t *testing.T) {
	t.Helper()
	_ = e.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-e.done:
		if err != nil {
			t.Fatalf("edgeflow exited with %v; logs:\n%s", err, e.logs)
		}
	case <-time.After(60 * time.Second):
		e.kill()
		t.Fatalf("edgeflow did not stop; logs:\n%s", e.logs)
	}
}

// seqsInFile reads a JSON Lines file of {"seq": n} objects and returns how
// often each seq occurs. A torn last line (the process was killed mid-write)
// is ignored: it was never acknowledged.
func seqsInFile(t *testing.T, path string) map[int]int {
	t.Helper()
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return map[int]int{}
	}
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	seen := map[int]int{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var rec struct {
			Seq *int `json:"seq"`
		}
		if json.Unmarshal(sc.Bytes(), &rec) != nil || rec.Seq == nil {
			continue
		}
		seen[*rec.Seq]++
	}
	return seen
}

// waitUntil polls cond for up to limit.
func waitUntil(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", limit, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// checkComplete asserts every seq in [0, n) was delivered at least once and
// reports the duplicates.
func checkComplete(t *testing.T, seen map[int]int, n int) (dups int) {
	t.Helper()
	var missing []int
	for i := range n {
		switch c := seen[i]; {
		case c == 0:
			missing = append(missing, i)
		case c > 1:
			dups += c - 1
		}
	}
	if len(missing) > 0 {
		t.Fatalf("%d of %d messages lost, first %v", len(missing), n, missing[:min(10, len(missing))])
	}
	return dups
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}
