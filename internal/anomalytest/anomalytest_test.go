package anomalytest

import (
	"bytes"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/edgeflow/edgeflow/models/modeltest"
)

// writeSeries writes a NAB-style CSV of n readings of a sine, with the
// readings from index `from` on shifted by `shift`, and returns its path.
func writeSeries(t *testing.T, dir, name string, n, from int, shift float64) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("timestamp,value\n")
	t0 := time.Date(2014, 4, 1, 0, 0, 0, 0, time.UTC)
	for i := range n {
		v := 20 + 5*math.Sin(float64(i)*2*math.Pi/48)
		if i >= from {
			v += shift
		}
		fmt.Fprintf(&b, "%s,%g\n", t0.Add(time.Duration(i)*5*time.Minute).Format(time.DateTime), v)
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func model(t *testing.T, paths ...string) []byte {
	t.Helper()
	dir := t.TempDir()
	path := NABModel(t, paths, dir)
	if path != filepath.Join(dir, "anomaly.int8.onnx") {
		t.Fatalf("model written to %s, want anomaly.int8.onnx in %s", path, dir)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(data) == 0 {
		t.Fatal("empty model")
	}
	return data
}

// The model is deterministic and learns only from the first 15% of each
// file: what comes later does not change it, what comes earlier does.
func TestNABModelTrainsOnTheNormalPart(t *testing.T) {
	modeltest.RequireRuntime(t)
	dir := t.TempDir()
	const n = 400 // 15%: readings 0..59
	base := model(t, writeSeries(t, dir, "a.csv", n, n, 0), writeSeries(t, dir, "b.csv", n, n, 0))
	if again := model(t, filepath.Join(dir, "a.csv"), filepath.Join(dir, "b.csv")); !bytes.Equal(base, again) {
		t.Fatal("the same data gave two different models")
	}
	late := model(t, writeSeries(t, dir, "a-late.csv", n, 70, 30), filepath.Join(dir, "b.csv"))
	if !bytes.Equal(base, late) {
		t.Fatal("a change after the first 15% changed the model")
	}
	early := model(t, writeSeries(t, dir, "a-early.csv", n, 40, 30), filepath.Join(dir, "b.csv"))
	if bytes.Equal(base, early) {
		t.Fatal("a change inside the first 15% did not change the model")
	}
}
