package main

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/edgeflow/edgeflow/internal/syncbuf"
)

// TestRunReloadsOnSIGHUP: SIGHUP re-reads the pipeline file; an invalid
// one is rejected with its position and the pipeline goes on, a valid one
// replaces it, and the dashboard says so.
func TestRunReloadsOnSIGHUP(t *testing.T) {
	raw, err := os.ReadFile("testdata/infinite.yaml")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "pipeline.yaml")
	write := func(s string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(string(raw))

	cmd := exec.Command(bin, "run", "--metrics-listen", "127.0.0.1:0", path)
	cmd.Env = append(os.Environ(), "EDGEFLOW_TEST_MQTT="+freePort(t))
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var (
		mu    sync.Mutex
		lines []logLine
	)
	var log syncbuf.Buffer
	exited := make(chan error, 1)
	go func() {
		dec := json.NewDecoder(io.TeeReader(stderr, &log))
		for {
			var l logLine
			if err := dec.Decode(&l); err != nil {
				break
			}
			mu.Lock()
			lines = append(lines, l)
			mu.Unlock()
		}
		exited <- cmd.Wait()
	}()
	waited := false
	defer func() {
		if !waited {
			cmd.Process.Kill()
			<-exited
		}
	}()
	// logged waits for a log line that starts with prefix.
	logged := func(prefix string) logLine {
		t.Helper()
		deadline := time.Now().Add(time.Minute)
		for time.Now().Before(deadline) {
			mu.Lock()
			for _, l := range lines {
				if strings.HasPrefix(l.Message, prefix) {
					mu.Unlock()
					return l
				}
			}
			mu.Unlock()
			time.Sleep(20 * time.Millisecond)
		}
		t.Fatalf("no log line %q:\n%s", prefix, log.String())
		return logLine{}
	}
	addr := logged("admin server listening").Addr
	logged("pipeline running")

	// Invalid: an unknown key, rejected with file:line:col.
	write(strings.Replace(string(raw), "    size: 8\n", "    size: 8\n    sise: 4\n", 1))
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	rejected := logged("reload rejected: ")
	if want := path + ":23:5: stages.windows.sise: unknown key"; !strings.Contains(rejected.Message, want) {
		t.Errorf("rejection %q does not say %q", rejected.Message, want)
	}

	// Valid: the window grows; the pipeline is replaced.
	write(strings.Replace(string(raw), "    size: 8\n", "    size: 16\n", 1))
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	logged("reload: new pipeline running")

	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 10 * time.Second}
	defer client.CloseIdleConnections()
	resp, err := client.Get("http://" + addr + "/api/state")
	if err != nil {
		t.Fatal(err)
	}
	var st struct {
		Gen    int
		Reload struct {
			Count int
			Error string
		}
		Graph struct{ Nodes []struct{ Name, Type string } }
	}
	err = json.NewDecoder(resp.Body).Decode(&st)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	if st.Gen != 1 || st.Reload.Count != 1 || st.Reload.Error != "" || len(st.Graph.Nodes) != 3 {
		t.Errorf("dashboard state after the reload: %+v", st)
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		waited = true
		if err != nil {
			t.Fatalf("after SIGTERM: %v\n%s", err, log.String())
		}
	case <-time.After(time.Minute):
		t.Fatalf("edgeflow did not exit within 1m of SIGTERM:\n%s", log.String())
	}
}
