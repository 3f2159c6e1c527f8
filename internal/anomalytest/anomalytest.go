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
)

// Windows is how many synthetic windows the example's model is trained on
// (demo.sh: `edgeflow model train anomaly --synthetic 20000 --seed 1`).
const Windows = 20000

// Model does what demo.sh does with `edgeflow model train anomaly
// --synthetic 20000 --seed 1`: it trains the autoencoder on windows of 16
// cut from synthetic series (anomaly.SyntheticWindows: no real sensor's
// data), quantises it to int8 calibrated on those windows, writes it to
// dir/anomaly.int8.onnx and returns that path. Quantising runs ONNX Runtime,
// so callers first call modeltest.RequireRuntime. Any error fails tb.
func Model(tb testing.TB, dir string) string {
	tb.Helper()
	return model(tb, dir, Windows)
}

func model(tb testing.TB, dir string, n int) string {
	wins := anomaly.SyntheticWindows(n, 16, 1)
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
