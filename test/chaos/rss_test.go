package chaos

import (
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// rssKB reads a process's resident set size in kB from /proc.
func rssKB(pid int) (int, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			return strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(rest), " kB"))
		}
	}
	return 0, fmt.Errorf("/proc/%d/status has no VmRSS", pid)
}

// rssLog samples edgeflow's resident memory every interval, one series per
// process (a restart starts a new one), so that a run can show memory
// stays flat while poison messages pass and faults come and go.
type rssLog struct {
	mu   sync.Mutex
	runs [][]int // kB, per edgeflow process
}

// watch samples pid until done is closed or the process is gone.
func (l *rssLog) watch(pid int, done <-chan struct{}, interval time.Duration) {
	l.mu.Lock()
	l.runs = append(l.runs, nil)
	i := len(l.runs) - 1
	l.mu.Unlock()
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		kb, err := rssKB(pid)
		if err != nil {
			return
		}
		l.mu.Lock()
		l.runs[i] = append(l.runs[i], kb)
		l.mu.Unlock()
		select {
		case <-done:
			return
		case <-t.C:
		}
	}
}

// summary gives the peak RSS over every process, and the creep of the
// longest-lived one: how much its floor in its second half is above its
// peak in its first quarter, past the start-up (model, broker sessions,
// buffers). A leak grows the floor with every message; a flat process
// stays at or below where its warm-up left it.
func (l *rssLog) summary() (peakMB, creepMB float64, samples int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var longest []int
	for _, r := range l.runs {
		samples += len(r)
		if len(r) > 0 {
			peakMB = max(peakMB, float64(slices.Max(r))/1024)
		}
		if len(r) > len(longest) {
			longest = r
		}
	}
	if len(longest) >= 8 {
		q, h := len(longest)/4, len(longest)/2
		creepMB = float64(slices.Min(longest[h:])-slices.Max(longest[:q])) / 1024
	}
	return peakMB, creepMB, samples
}

// Memory bounds of a chaos run: edgeflow with this pipeline holds about
// 30-40 MB; a poison loop that redelivers for ever, or dead letters kept in
// memory, take it well past these.
const (
	maxRSSMB      = 150
	maxRSSCreepMB = 8
)
