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

// BenchmarkGenerateMapDrop moves b.N synthetic readings through
// generate -> map -> drop, as a user would configure it.
//
//	go test ./test/bench -run '^$' -bench 'GenerateMapDrop' -benchmem -cpu 1
func BenchmarkGenerateMapDrop(b *testing.B) {
	yaml := fmt.Sprintf(`
name: bench
sources:
  sensors: {type: generate, keys: 8, count: %d, rate: 0}
stages:
  scale:
    type: map
    input: sensors
    set: {value: "value * 2"}
sinks:
  out: {type: drop, input: scale}
`, b.N)
	f, err := config.Parse([]byte(yaml), "bench.yaml")
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
