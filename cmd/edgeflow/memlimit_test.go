package main

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/KimMachineGun/automemlimit/memlimit"
	"github.com/rs/zerolog"
)

// restoreMemoryLimit puts the Go memory limit back as the test found it.
func restoreMemoryLimit(t *testing.T) {
	before := debug.SetMemoryLimit(-1)
	t.Cleanup(func() { debug.SetMemoryLimit(before) })
}

func TestLimitGoMemoryFollowsTheCap(t *testing.T) {
	restoreMemoryLimit(t)
	t.Setenv("GOMEMLIMIT", "")
	t.Setenv("AUTOMEMLIMIT", "")
	os.Unsetenv("AUTOMEMLIMIT")
	var logged bytes.Buffer
	got := limitGoMemory(zerolog.New(&logged), memlimit.Limit(512<<20))
	if want := int64(384 << 20); got != want || debug.SetMemoryLimit(-1) != want {
		t.Fatalf("limit %d (runtime %d), want %d: 0.75 of a 512 MiB cap", got, debug.SetMemoryLimit(-1), want)
	}
	if !strings.Contains(logged.String(), `"go_memory_limit":"384 MiB"`) {
		t.Errorf("the limit is not logged: %s", logged.String())
	}
}

func TestLimitGoMemoryLeavesTheRuntimeAlone(t *testing.T) {
	noCap := func() (uint64, error) { return 0, memlimit.ErrNoLimit }
	broken := func() (uint64, error) { return 0, errors.New("no memory controller") }
	for _, c := range []struct {
		name, gomemlimit, automemlimit string
		cap                            memlimit.Provider
	}{
		{"GOMEMLIMIT set", "1GiB", "", memlimit.Limit(512 << 20)},
		{"AUTOMEMLIMIT=off", "", "off", memlimit.Limit(512 << 20)},
		{"no cap", "", "", noCap},
		{"cap unreadable", "", "", broken},
	} {
		t.Run(c.name, func(t *testing.T) {
			restoreMemoryLimit(t)
			debug.SetMemoryLimit(math.MaxInt64)
			t.Setenv("GOMEMLIMIT", c.gomemlimit)
			t.Setenv("AUTOMEMLIMIT", c.automemlimit)
			if c.automemlimit == "" {
				os.Unsetenv("AUTOMEMLIMIT")
			}
			var logged bytes.Buffer
			if got := limitGoMemory(zerolog.New(&logged).Level(zerolog.InfoLevel), c.cap); got != 0 {
				t.Errorf("limit %d, want none", got)
			}
			if l := debug.SetMemoryLimit(-1); l != math.MaxInt64 {
				t.Errorf("runtime limit changed to %d", l)
			}
			if logged.Len() != 0 {
				t.Errorf("logged at info or above: %s", logged.String())
			}
		})
	}
}

// TestRunUnderAMemoryCap runs edgeflow in a memory cgroup of its own, as a
// container or a systemd unit with MemoryMax would, and checks that the Go
// heap's soft limit follows the cap. It needs root and a cgroup memory
// controller it can write (v1 or v2).
func TestRunUnderAMemoryCap(t *testing.T) {
	const capBytes = 256 << 20
	procs := memoryCgroup(t, capBytes)
	script := fmt.Sprintf("echo $$ > %s && exec %s run testdata/finite.yaml", procs, bin)
	r := edgeflowShell(t, []string{"EDGEFLOW_TEST_MQTT=" + freePort(t)}, script)
	if r.code != 0 {
		t.Fatalf("exit %d; stderr:\n%s", r.code, r.stderr)
	}
	if !strings.Contains(r.stderr, `"go_memory_limit":"192 MiB"`) {
		t.Errorf("no Go memory limit of 192 MiB (0.75 of the 256 MiB cap) in the log:\n%s", r.stderr)
	}
}

// memoryCgroup makes a memory cgroup capped at limit bytes, removed when the
// test ends, and returns the file that moves a process into it.
func memoryCgroup(t *testing.T, limit int64) (procs string) {
	t.Helper()
	name := fmt.Sprintf("edgeflow-test-%d", os.Getpid())
	var dir, limitFile string
	if _, err := os.Stat("/sys/fs/cgroup/cgroup.controllers"); err == nil {
		dir, limitFile = filepath.Join("/sys/fs/cgroup", name), "memory.max" // v2
		os.WriteFile("/sys/fs/cgroup/cgroup.subtree_control", []byte("+memory"), 0)
	} else {
		dir, limitFile = filepath.Join("/sys/fs/cgroup/memory", name), "memory.limit_in_bytes" // v1
	}
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Skipf("cannot make a memory cgroup (needs root and a cgroup memory controller): %v", err)
	}
	t.Cleanup(func() { os.Remove(dir) })
	if err := os.WriteFile(filepath.Join(dir, limitFile), []byte(fmt.Sprint(limit)), 0); err != nil {
		t.Skipf("cannot cap the cgroup's memory: %v", err)
	}
	return filepath.Join(dir, "cgroup.procs")
}
