// Package anomalytest trains, for tests and benchmarks, the int8 anomaly
// model that the anomaly example (examples/anomaly/demo.sh) trains, so that
// the example's tests and its benchmark score with the same model.
//
// It is imported only from _test.go files.
package anomalytest

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/edgeflow/edgeflow/anomaly"
	"github.com/edgeflow/edgeflow/anomaly/nab"
)

// NABModel does what demo.sh does with `edgeflow model train anomaly
// --normal 0.15 --seed 1`: it trains the autoencoder on windows of 16 over
// the first 15% of each NAB file in paths (each z-scored by its own
// statistics), quantises it to int8 calibrated on those windows, writes it
// to dir/anomaly.int8.onnx and returns that path. Quantising runs ONNX
// Runtime, so callers first call modeltest.RequireRuntime. Any error fails
// tb.
func NABModel(tb testing.TB, paths []string, dir string) string {
	tb.Helper()
	var wins [][]float32
	for _, p := range paths {
		f, err := nab.ReadFile(p)
		if err != nil {
			tb.Fatal(err)
		}
		n := int(0.15 * float64(len(f.Values)))
		z := &anomaly.Normalizer{}
		for _, v := range f.Values[:n] {
			z.Observe(v)
		}
		wins = append(wins, anomaly.Windows(f.Values, 0, n, 16, z)...)
	}
	ae, _, err := anomaly.Train(wins, anomaly.TrainConfig{Seed: 1})
	if err != nil {
		tb.Fatal(err)
	}
	_, q, err := anomaly.ExportPair(ae, wins, nil)
	if err != nil {
		tb.Fatal(err)
	}
	path := filepath.Join(dir, "anomaly.int8.onnx")
	if err := os.WriteFile(path, q, 0o644); err != nil {
		tb.Fatal(err)
	}
	return path
}
