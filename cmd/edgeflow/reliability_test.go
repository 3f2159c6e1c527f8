package main

import (
	"errors"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/edgeflow/edgeflow/internal/syncbuf"
)

// Two mqtt connections start with metrics on; before, the second one's
// metrics clashed with the first's and edgeflow exited 1 at start.
func TestRunTwoMQTTConnectionsWithMetrics(t *testing.T) {
	r := edgeflow(t, []string{"EDGEFLOW_TEST_MQTT=" + freePort(t)}, "run", "testdata/two_mqtt.yaml")
	if r.code != 0 || strings.Contains(r.stderr, "duplicate metrics collector") {
		t.Fatalf("exit %d; stderr:\n%s", r.code, r.stderr)
	}
}

// A drain cut short by drain_timeout nacks what is in flight: the exit
// status says so (3), where it used to be 0 like a clean stop.
func TestRunDrainTimeoutExitStatus(t *testing.T) {
	cmd := exec.Command(bin, "run", "testdata/stuck_drain.yaml")
	var out, errb syncbuf.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
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
	select {
	case err := <-exited:
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.ExitCode() != exitDrainIncomplete {
			t.Fatalf("after a drain timeout: %v, want exit status %d\n%s", err, exitDrainIncomplete, errb.String())
		}
	case <-time.After(time.Minute):
		cmd.Process.Kill()
		<-exited
		t.Fatalf("edgeflow did not stop after its drain timeout:\n%s", errb.String())
	}
	if !strings.Contains(errb.String(), "drain incomplete") {
		t.Errorf("log does not say the drain was incomplete:\n%s", errb.String())
	}
}

// validate reports the graph error and, with it, what the constructors
// find: before, the dangling input hid the two expressions that fail on
// every message at run time.
func TestValidateReportsComponentErrorsBehindGraphErrors(t *testing.T) {
	r := edgeflow(t, nil, "validate", "testdata/hidden.yaml")
	if r.code != 1 {
		t.Fatalf("validate exit %d, want 1; stderr:\n%s", r.code, r.stderr)
	}
	for _, want := range []string{
		`testdata/hidden.yaml:20:12: sinks.out.input: no source or stage is named "nowhere"`,
		`testdata/hidden.yaml:11:16: stages.every7.condition: expression "seq % 7 == 0": no field "seq"; the messages here have anomaly (bool), sensor (string), value (float)`,
		`testdata/hidden.yaml:16:10: stages.scaled.set.v: expression "scale(value)": unknown function "scale"`,
	} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("validate output lacks %q:\n%s", want, r.stderr)
		}
	}
}
