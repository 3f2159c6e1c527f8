package onnx

// What on-device learning costs, side by side in one run:
//
//	go test -run '^$' -bench LearnUpdate -benchtime 20x ./stages/onnx/
//	go test -run '^$' -bench LearnReading -benchtime 4000x -timeout 30m ./stages/onnx/
//
// BenchmarkLearnUpdate times one update's parts on the example's model
// (16-16-4-16-16, int8): fine-tuning (20 Adam steps of 32 windows), the
// re-quantisation (calibrated on 900 windows) and the swap (session, kernel
// check, Check; and without the kernel check). BenchmarkLearnReading
// scores batches of 32 windows of 60 keys through the stage with learning
// off and on (every 1000 windows, no budget: every update due is made),
// once every key has a model of its own, and reports the process's CPU
// time per reading (the trainer goroutine included) next to the wall time.

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/edgeflow/edgeflow/anomaly"
	"github.com/edgeflow/edgeflow/models"
	"github.com/edgeflow/edgeflow/models/modeltest"
	"github.com/edgeflow/edgeflow/pipeline"
)

// cpuPerOp reports the process's CPU time per iteration: on a shared,
// loaded machine the wall time says more about the neighbours.
func cpuPerOp(b *testing.B, f func(i int)) {
	c0 := usage(b)
	b.ResetTimer()
	for i := range b.N {
		f(i)
	}
	b.StopTimer()
	b.ReportMetric(float64(cpuTime(c0, usage(b)).Microseconds())/1000/float64(b.N), "cpu-ms/op")
}

func BenchmarkLearnUpdate(b *testing.B) {
	modeltest.RequireRuntime(b)
	dir := b.TempDir()
	_, q := autoencoderFiles(b, dir)
	data, err := os.ReadFile(q)
	if err != nil {
		b.Fatal(err)
	}
	base, err := anomaly.ReadModel(data)
	if err != nil {
		b.Fatal(err)
	}
	wins := anomaly.SyntheticWindows(900, 16, 7)
	tuned, _, err := anomaly.FineTune(base, wins, anomaly.TuneConfig{})
	if err != nil {
		b.Fatal(err)
	}
	_, int8Model, err := anomaly.ExportPair(tuned, wins, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("finetune", func(b *testing.B) {
		cpuPerOp(b, func(i int) {
			if _, _, err := anomaly.FineTune(base, wins, anomaly.TuneConfig{Seed: uint64(i)}); err != nil {
				b.Fatal(err)
			}
		})
	})
	for _, n := range []int{900, 256, 64} {
		b.Run(fmt.Sprintf("quantise-%d", n), func(b *testing.B) {
			cpuPerOp(b, func(int) {
				if _, _, err := anomaly.ExportPair(tuned, wins[:n], nil); err != nil {
					b.Fatal(err)
				}
			})
		})
	}
	for _, c := range []struct {
		name  string
		check models.KernelCheck
	}{{"swap", models.KernelCheckRefuse}, {"swap-no-kernel-check", models.KernelCheckOff}} {
		b.Run(c.name, func(b *testing.B) {
			opts := models.LoadOptions{Options: models.Options{IntraOpThreads: 1}, KernelCheck: c.check}
			m, err := models.OpenBytes("bench", int8Model, opts)
			if err != nil {
				b.Fatal(err)
			}
			defer m.Close()
			cpuPerOp(b, func(int) {
				if err := m.Swap(int8Model); err != nil {
					b.Fatal(err)
				}
			})
		})
	}
}

func BenchmarkLearnReading(b *testing.B) {
	modeltest.RequireRuntime(b)
	dir := b.TempDir()
	_, q := autoencoderFiles(b, dir)
	wins := anomaly.SyntheticWindows(4000, 16, 3)
	const keys = 60
	for _, c := range []struct{ name, learn string }{
		{"off", ""}, {"every1000", ", learn: {every: 1000, budget: 1}"},
		{"off-again", ""}, {"every1000-again", ", learn: {every: 1000, budget: 1}"},
		{"own-models-no-updates", ", learn: {every: 1000, budget: 1}"},
	} {
		b.Run(c.name, func(b *testing.B) {
			stage, err := build(b, dir, "{model: "+filepath.Base(q)+", inputs: {window: window_norm}, threads: 1"+c.learn+"}")
			if err != nil {
				b.Fatal(err)
			}
			batch := make([]*pipeline.Message, 32)
			var out discard
			n := 0
			next := func() {
				for j := range batch {
					m := pipeline.NewMessage(nil)
					m.Key = string(rune('A' + n%keys))
					m.Fields = map[string]any{"window_norm": wins[(n/keys)%len(wins)]}
					batch[j] = m
					n++
				}
			}
			// Past the first update of every key, so that the run measures
			// keys on models of their own.
			for n < keys*1000 {
				next()
				stage.ProcessBatch(b.Context(), batch, &out)
			}
			if stage.learn != nil {
				for stage.learn.updates.Load() < keys { // let the first updates land
					time.Sleep(10 * time.Millisecond)
				}
			}
			if c.name == "own-models-no-updates" { // the hot path alone: per-key runs and the kept windows
				stage.learn.mu.Lock()
				stage.learn.every = 1 << 40
				stage.learn.mu.Unlock()
			}
			cpu0 := usage(b)
			b.ResetTimer()
			for range b.N {
				next()
				if errs := stage.ProcessBatch(b.Context(), batch, &out); errs != nil {
					b.Fatal(errs)
				}
			}
			b.StopTimer()
			if stage.learn != nil { // the updates this run asked for
				for stage.learn.pending() {
					time.Sleep(time.Millisecond)
				}
			}
			cpu := cpuTime(cpu0, usage(b))
			b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N*len(batch)), "cpu-ns/reading")
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(batch)), "ns/reading")
			if stage.learn != nil {
				b.ReportMetric(float64(stage.learn.updates.Load()), "updates")
			}
			if err := stage.Close(b.Context()); err != nil {
				b.Fatal(err)
			}
		})
	}
}

type discard struct{}

func (discard) Emit(*pipeline.Message) {}

// pending reports whether an update is waiting or running.
func (l *learner) pending() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, k := range l.keys {
		if k.pending {
			return true
		}
	}
	return false
}

// BenchmarkLearnMemory reports what a key with a model of its own costs in
// resident memory: its ONNX Runtime session (the example's int8 model) and
// its ring of kept windows (keep 1000).
//
//	go test -run '^$' -bench LearnMemory -benchtime 1x ./stages/onnx/
func BenchmarkLearnMemory(b *testing.B) {
	modeltest.RequireRuntime(b)
	_, q := autoencoderFiles(b, b.TempDir())
	data, err := os.ReadFile(q)
	if err != nil {
		b.Fatal(err)
	}
	const keys = 100
	for range b.N {
		runtime.GC()
		before := rss(b)
		var ms []*models.Model
		for range keys {
			m, err := models.OpenBytes("mem", data, models.LoadOptions{Options: models.Options{IntraOpThreads: 1}})
			if err != nil {
				b.Fatal(err)
			}
			if _, err := m.Run([]models.Tensor{{Shape: []int64{32, 16}, Data: make([]float32, 32*16)}}); err != nil {
				b.Fatal(err)
			}
			ms = append(ms, m)
		}
		runtime.GC()
		sessions := rss(b)
		rings := make([][][]float32, keys)
		for k := range rings {
			for range 1000 {
				rings[k] = append(rings[k], make([]float32, 16))
			}
		}
		runtime.GC()
		after := rss(b)
		b.ReportMetric(float64(sessions-before)/keys, "session-kB/key")
		b.ReportMetric(float64(after-sessions)/keys, "ring-kB/key")
		runtime.KeepAlive(rings)
		for _, m := range ms {
			m.Close()
		}
	}
}

// rss is the process's resident set in kB.
func rss(b *testing.B) int {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		b.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			n, _ := strconv.Atoi(f[1])
			return n
		}
	}
	b.Fatal("no VmRSS")
	return 0
}
