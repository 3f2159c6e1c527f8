package bench

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// clockTick is the unit of utime and stime in /proc/PID/stat (USER_HZ,
// 100 on every Linux architecture Go supports).
const clockTick = 10 * time.Millisecond

// procCPU is the user+system CPU time a process has used so far, read from
// /proc/PID/stat (10 ms resolution).
func procCPU(b *testing.B, pid int) time.Duration {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		b.Fatal(err)
	}
	// The command name (field 2) may hold spaces: count from its ')'.
	s := string(data)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	// fields[0] is field 3 (state); utime and stime are fields 14 and 15.
	utime, err1 := strconv.ParseInt(fields[11], 10, 64)
	stime, err2 := strconv.ParseInt(fields[12], 10, 64)
	if err1 != nil || err2 != nil {
		b.Fatalf("/proc/%d/stat: %q", pid, s)
	}
	return time.Duration(utime+stime) * clockTick
}

// selfCPU is the CPU time of this process: the load publisher and the
// counting subscriber, which run in it.
func selfCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// cpuWatch samples the CPU time of the processes a load run involves, so
// that a run says which of them was busy: the broker (single-threaded, it
// carries every message twice when edgeflow is in the path), edgeflow, and
// this process's publisher and subscriber.
type cpuWatch struct {
	b                   *testing.B
	brokerPid, edgePid  int
	broker, edge, local time.Duration
}

func (w *cpuWatch) sample() (broker, edge, local time.Duration) {
	return procCPU(w.b, w.brokerPid), procCPU(w.b, w.edgePid), selfCPU(w.b)
}

func (w *cpuWatch) start() { w.broker, w.edge, w.local = w.sample() }

// cpuUse is the CPU a run used, per process.
type cpuUse struct {
	broker, edge, local time.Duration
	wall                time.Duration
	msgs                int
}

func (w *cpuWatch) stop(wall time.Duration, msgs int) cpuUse {
	br, ed, lo := w.sample()
	return cpuUse{broker: br - w.broker, edge: ed - w.edge, local: lo - w.local, wall: wall, msgs: msgs}
}

// String gives each process's CPU per message and share of one core over
// the run.
func (u cpuUse) String() string {
	f := func(name string, d time.Duration) string {
		if u.msgs == 0 || u.wall <= 0 {
			return name + " -"
		}
		return fmt.Sprintf("%s %.2f µs/msg %.0f%%", name, float64(d.Microseconds())/float64(u.msgs), 100*d.Seconds()/u.wall.Seconds())
	}
	return strings.Join([]string{f("mosquitto", u.broker), f("edgeflow", u.edge), f("pub+sub", u.local)}, ", ")
}

// core is the share of one core d is over the run.
func (u cpuUse) core(d time.Duration) float64 {
	if u.wall <= 0 {
		return 0
	}
	return d.Seconds() / u.wall.Seconds()
}

// rssPeaks samples a process's resident anonymous and file-backed memory
// every 20 ms until stop is called, and returns the peaks in kB. VmHWM
// gives only the peak of their sum; the split says how much is the
// process's own memory (anonymous) and how much the mapped binary, which
// depends on how the kernel caches the file (on a kernel that maps the
// page cache's large folios whole, 2 MB at a time).
func rssPeaks(pid int) (stop func() (anonKB, fileKB int)) {
	done := make(chan struct{})
	var anon, file int
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		for {
			a, f := rssSplit(pid)
			anon, file = max(anon, a), max(file, f)
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	})
	return func() (int, int) {
		close(done)
		wg.Wait()
		return anon, file
	}
}

// rssSplit reads RssAnon and RssFile (kB) from /proc/PID/status; 0 when
// the process is gone.
func rssSplit(pid int) (anon, file int) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "RssAnon:"); ok {
			anon, _ = strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(rest), " kB"))
		} else if rest, ok := strings.CutPrefix(line, "RssFile:"); ok {
			file, _ = strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(rest), " kB"))
		}
	}
	return anon, file
}
