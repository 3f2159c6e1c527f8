package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/edgeflow/edgeflow/internal/brokertest"
	"github.com/edgeflow/edgeflow/internal/syncbuf"
)

// bin is the edgeflow binary built once for all tests.
var bin string

const testVersion = "v0.0.0-clitest"

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "edgeflow-cli-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	bin = filepath.Join(dir, "edgeflow")
	build := exec.Command("go", "build", "-ldflags", "-X main.version="+testVersion, "-o", bin, ".")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building edgeflow:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	if code == 0 {
		if err := goleak.Find(brokertest.IgnorePahoDisconnect); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

type result struct {
	code           int
	stdout, stderr string
}

// edgeflow runs the binary with args and a generous timeout.
func edgeflow(t *testing.T, env []string, args ...string) result {
	t.Helper()
	return runCommand(t, exec.Command(bin, args...), append(os.Environ(), env...))
}

// edgeflowShell runs a shell script (that execs edgeflow) with the
// environment less any Go memory limit settings, plus env.
func edgeflowShell(t *testing.T, env []string, script string) result {
	t.Helper()
	base := slices.DeleteFunc(os.Environ(), func(kv string) bool {
		return strings.HasPrefix(kv, "GOMEMLIMIT=") || strings.HasPrefix(kv, "AUTOMEMLIMIT=")
	})
	return runCommand(t, exec.Command("sh", "-c", script), append(base, env...))
}

func runCommand(t *testing.T, cmd *exec.Cmd, env []string) result {
	t.Helper()
	cmd.Env = env
	args := cmd.Args[1:]
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var err error
	select {
	case err = <-done:
	case <-time.After(2 * time.Minute):
		cmd.Process.Kill()
		<-done
		t.Fatalf("edgeflow %v did not finish in 2m; stderr:\n%s", args, errb.String())
	}
	r := result{stdout: out.String(), stderr: errb.String()}
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		r.code = exit.ExitCode()
	case err != nil:
		t.Fatal(err)
	}
	return r
}

func TestValidateGood(t *testing.T) {
	r := edgeflow(t, nil, "validate", "testdata/good.yaml")
	if r.code != 0 || r.stdout != "ok\n" {
		t.Fatalf("validate good.yaml = %d, stdout %q, stderr:\n%s", r.code, r.stdout, r.stderr)
	}
}

var errorLine = regexp.MustCompile(`^testdata/bad\.yaml:(\d+):(\d+): \S+: .+`)

func TestValidateReportsEveryError(t *testing.T) {
	r := edgeflow(t, nil, "validate", "testdata/bad.yaml")
	if r.code != 1 {
		t.Fatalf("validate bad.yaml exit = %d, want 1; stderr:\n%s", r.code, r.stderr)
	}
	if r.stdout != "" {
		t.Errorf("validate bad.yaml printed %q on stdout", r.stdout)
	}
	var positions []string
	for _, line := range strings.Split(strings.TrimSpace(r.stderr), "\n") {
		m := errorLine.FindStringSubmatch(line)
		if m == nil {
			t.Errorf("line %q is not file:line:col: key: message", line)
			continue
		}
		positions = append(positions, m[1]+":"+m[2])
	}
	// rate: fast; input: sensor; overflow: drop_some; the typo stage feeds
	// nothing; type: windoww; qos: 7.
	want := []string{"5:11", "9:12", "11:15", "12:3", "13:11", "21:10"}
	if strings.Join(positions, " ") != strings.Join(want, " ") {
		t.Errorf("error positions = %v, want %v\nstderr:\n%s", positions, want, r.stderr)
	}
	for _, hint := range []string{`did you mean "sensors"`, `did you mean "window"`} {
		if !strings.Contains(r.stderr, hint) {
			t.Errorf("stderr lacks %q", hint)
		}
	}
}

func TestValidateBuildsDry(t *testing.T) {
	r := edgeflow(t, nil, "validate", "testdata/badexpr.yaml")
	if r.code != 1 || !strings.HasPrefix(r.stderr, "testdata/badexpr.yaml:15:16: stages.hot.condition: ") {
		t.Fatalf("validate badexpr.yaml = %d, stderr:\n%s", r.code, r.stderr)
	}
}

func TestValidateSeveralFiles(t *testing.T) {
	r := edgeflow(t, nil, "validate", "testdata/good.yaml", "testdata/missing.yaml")
	if r.code != 1 {
		t.Fatalf("exit = %d, want 1", r.code)
	}
	if r.stdout != "testdata/good.yaml: ok\n" {
		t.Errorf("stdout = %q", r.stdout)
	}
	if !strings.HasPrefix(r.stderr, "testdata/missing.yaml: cannot read the pipeline file") {
		t.Errorf("stderr = %q", r.stderr)
	}
}

func TestUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{"run"},
		{"validate"},
		{"graph", "--format", "svg", "testdata/good.yaml"},
		{"run", "--bogus", "testdata/good.yaml"},
		{"nosuchcommand"},
		{"--log-level", "loud", "validate", "testdata/good.yaml"},
	} {
		r := edgeflow(t, nil, args...)
		if r.code != 2 {
			t.Errorf("edgeflow %v exit = %d, want 2; stderr:\n%s", args, r.code, r.stderr)
		}
	}
}

func TestGraph(t *testing.T) {
	r := edgeflow(t, nil, "graph", "testdata/good.yaml")
	if r.code != 0 {
		t.Fatalf("graph exit %d: %s", r.code, r.stderr)
	}
	for _, want := range []string{
		"flowchart LR\n",
		`n0(["sensors<br/><i>generate</i>"])`,
		`n2["windows<br/><i>window</i>"]`,
		`n3[/"out<br/><i>mqtt</i>"/]`,
		`n4[("dead_letter<br/><i>mqtt</i>")]`,
		"n0 --> n1\n",
		`n1 -- "drop_oldest, buffer 8" --> n2`,
		"n2 --> n3\n",
		"n2 -. failed .-> n4\n",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("mermaid lacks %q:\n%s", want, r.stdout)
		}
	}
	if strings.Contains(r.stdout, "n3 -. failed") {
		t.Errorf("a sink's failures are drawn going to the dead-letter sink")
	}

	r = edgeflow(t, nil, "graph", "--format", "dot", "testdata/good.yaml")
	for _, want := range []string{
		`digraph "cli-good" {`,
		`"sensors" [label="sensors\ngenerate", shape=ellipse];`,
		`"hot" -> "windows" [label="drop_oldest, buffer 8"];`,
		`"windows" -> "out";`,
		`"hot" -> "dead_letter" [style=dashed, label="failed"];`,
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("dot lacks %q:\n%s", want, r.stdout)
		}
	}

	r = edgeflow(t, nil, "graph", "testdata/bad.yaml")
	if r.code != 1 || !strings.Contains(r.stderr, "testdata/bad.yaml:5:11:") {
		t.Errorf("graph of a bad file = %d, stderr:\n%s", r.code, r.stderr)
	}
}

func TestComponents(t *testing.T) {
	r := edgeflow(t, nil, "components")
	if r.code != 0 {
		t.Fatalf("components exit %d: %s", r.code, r.stderr)
	}
	sections := []string{"Connections:", "Sources:", "Stages:", "Sinks:"}
	last := -1
	for _, s := range sections {
		i := strings.Index(r.stdout, s)
		if i <= last {
			t.Errorf("components: %q missing or out of order:\n%s", s, r.stdout)
		}
		last = i
	}
	if !regexp.MustCompile(`(?m)^  generate +Synthetic`).MatchString(r.stdout) {
		t.Errorf("components does not list generate with its summary:\n%s", r.stdout)
	}

	r = edgeflow(t, nil, "components", "window")
	for _, want := range []string{"# `window` stage", "| `size` | int | **required** |", "```yaml", "Common stage keys: `type`, `input`"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("components window lacks %q:\n%s", want, r.stdout)
		}
	}

	// mqtt is a connection, a source and a sink.
	r = edgeflow(t, nil, "components", "mqtt")
	for _, want := range []string{"# `mqtt` connection", "# `mqtt` source", "# `mqtt` sink"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("components mqtt lacks %q", want)
		}
	}
	r = edgeflow(t, nil, "components", "sink/mqtt")
	if strings.Contains(r.stdout, "# `mqtt` source") || !strings.Contains(r.stdout, "# `mqtt` sink") {
		t.Errorf("components sink/mqtt:\n%s", r.stdout)
	}

	r = edgeflow(t, nil, "components", "windw")
	if r.code != 1 || !strings.Contains(r.stderr, `did you mean "window"`) {
		t.Errorf("components windw = %d, stderr %q", r.code, r.stderr)
	}
}

// The committed reference must be what the binary generates: run `make
// docs` after changing a component spec.
func TestDocsAreUpToDate(t *testing.T) {
	for format, path := range map[string]string{
		"markdown":    "../../docs/components.md",
		"json-schema": "../../docs/edgeflow.schema.json",
	} {
		r := edgeflow(t, nil, "components", "--format", format)
		if r.code != 0 {
			t.Fatalf("components --format %s: %s", format, r.stderr)
		}
		committed, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (run make docs)", err)
		}
		if r.stdout != string(committed) {
			t.Errorf("%s is stale: run make docs", path)
		}
	}
	r := edgeflow(t, nil, "components", "--format", "json-schema")
	var schema map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &schema); err != nil {
		t.Fatalf("schema is not JSON: %v", err)
	}
}

func TestVersion(t *testing.T) {
	r := edgeflow(t, nil, "version")
	if r.code != 0 || !strings.HasPrefix(r.stdout, "edgeflow "+testVersion+" go") {
		t.Fatalf("version = %d %q", r.code, r.stdout)
	}
}

// freePort returns a loopback address nobody listens on (there is a small
// window before the child binds it; good enough on a test box).
func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func TestRunFinitePipeline(t *testing.T) {
	r := edgeflow(t, []string{"EDGEFLOW_TEST_MQTT=" + freePort(t)}, "run", "testdata/finite.yaml")
	if r.code != 0 {
		t.Fatalf("run finite.yaml exit %d; stderr:\n%s", r.code, r.stderr)
	}
	if !strings.Contains(r.stderr, `"message":"pipeline finished"`) {
		t.Errorf("no 'pipeline finished' in the log:\n%s", r.stderr)
	}
	if strings.Contains(r.stderr, "admin server listening") {
		t.Errorf("admin server started although metrics.enabled is false")
	}
}

// logLine is the part of a JSON log line the tests read.
type logLine struct {
	Message string `json:"message"`
	Addr    string `json:"addr"`
}

func TestRunDrainsOnSIGTERM(t *testing.T) {
	cmd := exec.Command(bin, "run", "--metrics-listen", "127.0.0.1:0", "testdata/infinite.yaml")
	cmd.Env = append(os.Environ(), "EDGEFLOW_TEST_MQTT="+freePort(t))
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	var log syncbuf.Buffer
	addrc := make(chan string, 1)
	// The reader owns stderr until the process exits.
	go func() {
		dec := json.NewDecoder(io.TeeReader(stderr, &log))
		for {
			var l logLine
			if err := dec.Decode(&l); err != nil {
				break
			}
			if l.Message == "admin server listening" {
				addrc <- l.Addr
			}
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

	var addr string
	select {
	case addr = <-addrc:
	case err := <-exited:
		waited = true
		t.Fatalf("edgeflow exited early (%v):\n%s", err, log.String())
	case <-time.After(time.Minute):
		t.Fatalf("no admin address logged:\n%s", log.String())
	}
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 10 * time.Second}
	defer client.CloseIdleConnections()
	get := func(path string) (int, string) {
		resp, err := client.Get("http://" + addr + path)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	deadline := time.Now().Add(time.Minute)
	for {
		if code, _ := get("/readyz"); code == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz never 200:\n%s", log.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	// Wait until windows have reached the sink, so the drain has work.
	delivered := regexp.MustCompile(`edgeflow_node_received_total\{kind="sink",node="out",pipeline="cli-infinite"\} ([1-9][0-9]*)`)
	for {
		code, body := get("/metrics")
		if code == http.StatusOK && delivered.MatchString(body) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no messages reached the sink; metrics:\n%s", body)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// The native-memory gauges are served once per process: this pipeline
	// runs no model, and this build has no OpenCV.
	_, body := get("/metrics")
	for _, want := range []string{"\nedgeflow_onnx_tensors_live 0\n", "\nedgeflow_onnx_sessions_live 0\n", "\nedgeflow_opencv_mats_live 0\n"} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", strings.TrimSpace(want))
		}
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
	for _, want := range []string{"stopping: draining in-flight messages", "pipeline stopped", "pipeline finished"} {
		if !strings.Contains(log.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, log.String())
		}
	}
}

// examples/generate (the example that needs nothing else): 2 keys × 60
// readings, windows of 8 every 4 readings, so 14 windows per key, each a
// JSON line. `make demo` (examples/anomaly/demo.sh) runs in `make test`.
func TestGenerateExampleRuns(t *testing.T) {
	r := edgeflow(t, []string{"DEMO_RATE=0"}, "run", "--no-metrics", "../../examples/generate/pipeline.yaml")
	if r.code != 0 {
		t.Fatalf("demo exit %d:\n%s", r.code, r.stderr)
	}
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(lines) != 28 {
		t.Fatalf("demo printed %d lines, want 28:\n%s", len(lines), r.stdout)
	}
	for _, l := range lines {
		var w struct {
			Key    string    `json:"key"`
			Count  int       `json:"count"`
			Window []float64 `json:"window"`
		}
		if err := json.Unmarshal([]byte(l), &w); err != nil || w.Count != 8 || len(w.Window) != 8 || w.Key == "" {
			t.Fatalf("bad window line %q (%v)", l, err)
		}
	}
}

// The pipeline shown in README.md must stay valid.
func TestReadmeExampleValidates(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(readme), "```yaml\n")
	example, _, closed := strings.Cut(rest, "```")
	if !ok || !closed {
		t.Fatal("README.md has no yaml example")
	}
	path := filepath.Join(t.TempDir(), "readme.yaml")
	if err := os.WriteFile(path, []byte(example), 0o644); err != nil {
		t.Fatal(err)
	}
	if r := edgeflow(t, nil, "validate", path); r.code != 0 {
		t.Fatalf("README example does not validate:\n%s", r.stderr)
	}
}

func TestSecondSignalAborts(t *testing.T) {
	cmd := exec.Command(bin, "run", "testdata/slow.yaml")
	var out, errb syncbuf.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	// The throttle lets one message through at once; its first line means
	// the pipeline runs and the queue in front of it is filling.
	deadline := time.Now().Add(time.Minute)
	for !strings.Contains(out.String(), "\n") {
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			<-exited
			t.Fatalf("no output:\n%s", errb.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond) // let the queue fill
	cmd.Process.Signal(syscall.SIGTERM)
	waitLog := time.Now().Add(time.Minute)
	for !strings.Contains(errb.String(), "draining in-flight messages") {
		if time.Now().After(waitLog) {
			cmd.Process.Kill()
			<-exited
			t.Fatalf("first signal not seen:\n%s", errb.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-exited:
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.ExitCode() != 130 {
			t.Fatalf("after a second signal: %v, want exit status 130\n%s", err, errb.String())
		}
	case <-time.After(time.Minute):
		cmd.Process.Kill()
		<-exited
		t.Fatalf("a second signal did not abort:\n%s", errb.String())
	}
	if !strings.Contains(errb.String(), "aborting without draining") {
		t.Errorf("log lacks the abort:\n%s", errb.String())
	}
}
