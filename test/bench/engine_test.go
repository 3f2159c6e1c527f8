// Package bench holds edgeflow's end-to-end benchmarks: whole pipelines
// built from YAML with the real components, measured next to the plainest Go
// program that does the same work, in the same run. BENCHMARKS.md has the
// figures and the commands.
package bench

import (
	"context"
	"fmt"
	"math"
	"testing"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/vm"

	"github.com/edgeflow/edgeflow/config"
	"github.com/rs/zerolog"

	_ "github.com/edgeflow/edgeflow/sinks"
	_ "github.com/edgeflow/edgeflow/sources"
	_ "github.com/edgeflow/edgeflow/stages"
)

// mapDropYAML is generate -> map -> drop for n readings, as a user would
// configure it.
func mapDropYAML(n int) []byte {
	return fmt.Appendf(nil, `
name: mapdrop
sources:
  sensors: {type: generate, keys: 8, count: %d, rate: 0}
stages:
  scale:
    type: map
    input: sensors
    set: {value: "value * 2"}
sinks:
  out: {type: drop, input: scale}
`, n)
}

// BenchmarkGenerateMapDrop moves b.N synthetic readings through
// generate -> map -> drop, as a user would configure it.
//
//	go test ./test/bench -run '^$' -bench 'GenerateMapDrop' -benchmem -cpu 1
func BenchmarkGenerateMapDrop(b *testing.B) {
	f, err := config.Parse(mapDropYAML(b.N), "bench.yaml")
	if err != nil {
		b.Fatal(err)
	}
	built, err := f.Build(context.Background(), config.BuildOptions{Logger: zerolog.Nop()})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	if err := built.Pipeline.Run(context.Background()); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
	if s, _ := built.Pipeline.Stats("out"); s.Received != uint64(b.N) {
		b.Fatalf("sink received %d of %d", s.Received, b.N)
	}
}

// BenchmarkHandwrittenGenerateMapDrop is the baseline for
// BenchmarkGenerateMapDrop: the same readings (a sine per key, a three-entry
// map each) and the same compiled expression, moved by goroutines over plain
// buffered channels, with no acknowledgement, metrics or config.
func BenchmarkHandwrittenGenerateMapDrop(b *testing.B) {
	program, err := expr.Compile("value * 2")
	if err != nil {
		b.Fatal(err)
	}
	keys := []any{"s0", "s1", "s2", "s3", "s4", "s5", "s6", "s7"}
	readings, mapped := make(chan map[string]any, 256), make(chan map[string]any, 256)
	done := make(chan struct{})
	go func() {
		defer close(mapped)
		var vm vm.VM
		for r := range readings {
			v, err := vm.Run(program, r)
			if err != nil {
				panic(err)
			}
			r["value"] = v
			mapped <- r
		}
	}()
	go func() {
		for range mapped {
		}
		close(done)
	}()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		k := i % len(keys)
		readings <- map[string]any{"sensor": keys[k], "value": math.Sin(float64(i/len(keys)) / 10), "anomaly": false}
	}
	close(readings)
	<-done
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}

// TestGenerateMapDropAllocations keeps the YAML path at two allocations per
// message: the generated reading and the expression's result, both boxed
// floats. The generator reuses settled messages and their maps, the
// expression its VM, and the engine allocates nothing per message.
func TestGenerateMapDropAllocations(t *testing.T) {
	// The cost of a message is the difference between a long and a short
	// run: set-up (parsing, compiling, goroutines, queues, the generator's
	// first messages) is the same in both and cancels out.
	const short, long = 20_000, 120_000
	per := (mapDropAllocs(t, long) - mapDropAllocs(t, short)) / (long - short)
	t.Logf("%.3f allocations per message", per)
	// 0.05 of slack for what does not cancel exactly (the race detector's
	// runtime allocates a little more, now and then).
	if per > 2.05 {
		t.Fatalf("%.3f allocations per message, want at most 2 (the boxed reading and the boxed result)", per)
	}
}

// mapDropAllocs builds and runs generate -> map -> drop from YAML for n
// messages and counts the allocations of one build and run.
func mapDropAllocs(t *testing.T, n int) float64 {
	f, err := config.Parse(mapDropYAML(n), "allocs.yaml")
	if err != nil {
		t.Fatal(err)
	}
	// AllocsPerRun warms up with one run, then counts one more.
	return testing.AllocsPerRun(1, func() {
		built, err := f.Build(context.Background(), config.BuildOptions{Logger: zerolog.Nop()})
		if err != nil {
			t.Fatal(err)
		}
		if err := built.Pipeline.Run(context.Background()); err != nil {
			t.Fatal(err)
		}
		if s, _ := built.Pipeline.Stats("out"); s.Received != uint64(n) {
			t.Fatalf("sink received %d of %d", s.Received, n)
		}
	})
}
