package eval_test

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/edgeflow/edgeflow/anomaly/eval"
)

// writeSeries writes a NAB-format timestamp,value CSV of n rows.
func writeSeries(t *testing.T, dir, name string, n int, f func(i int) float64) {
	t.Helper()
	var b strings.Builder
	b.WriteString("timestamp,value\n")
	for i := range n {
		fmt.Fprintf(&b, "2024-01-01 %02d:%02d:00,%g\n", i/60, i%60, f(i))
	}
	if err := os.WriteFile(filepath.Join(dir, name), []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestSeriesWindows(t *testing.T) {
	dir := t.TempDir()
	const n = 200
	writeSeries(t, dir, "a.csv", n, func(i int) float64 { return 10 + float64(i%4) })
	writeSeries(t, dir, "short.csv", 5, func(i int) float64 { return float64(i) })
	s, err := eval.LoadSeries(filepath.Join(dir, "*.csv"), eval.SeriesOptions{Window: 16, Stride: 4})
	if err != nil {
		t.Fatal(err)
	}
	if want := (n-16)/4 + 1; len(s) != want {
		t.Fatalf("%d windows, want %d (the 5-row file is too short for one)", len(s), want)
	}
	// The warm-up is NAB's probation: the first 15% of 200 = 30 rows.
	var mean, sq float64
	for i := range 30 {
		mean += 10 + float64(i%4)
	}
	mean /= 30
	for i := range 30 {
		d := 10 + float64(i%4) - mean
		sq += d * d
	}
	std := math.Sqrt(sq / 29)
	w := s[1].Inputs[0]
	if len(w.Data) != 16 || w.Shape[1] != 16 {
		t.Fatalf("window shape %v", w.Shape)
	}
	for k, v := range w.Data {
		raw := 10 + float64((4+k)%4)
		if want := (raw - mean) / std; math.Abs(float64(v)-want) > 1e-5 {
			t.Fatalf("value %d of window 1 is %v, want %v", k, v, want)
		}
	}
	raw, err := eval.LoadSeries(filepath.Join(dir, "a.csv"), eval.SeriesOptions{Window: 16, Normalize: "none", Limit: 5})
	if err != nil {
		t.Fatal(err)
	}
	if len(raw) != 5 || raw[0].Inputs[0].Data[0] != 10 || raw[0].Inputs[0].Data[3] != 13 {
		t.Fatalf("raw windows: %d, first %v", len(raw), raw[0].Inputs[0].Data[:4])
	}
	// A plain CSV path with a window is a series too.
	if glob, ok := eval.IsSeries(filepath.Join(dir, "a.csv"), 100); !ok || glob != filepath.Join(dir, "a.csv") {
		t.Fatalf("IsSeries(a.csv, window 100) = %q, %v", glob, ok)
	}
	if _, ok := eval.IsSeries(filepath.Join(dir, "a.csv"), 0); ok {
		t.Fatal("a CSV without a window length is vectors, not series")
	}
	if s, err := eval.LoadSeries(filepath.Join(dir, "a.csv"), eval.SeriesOptions{Window: 100, Stride: 100}); err != nil || len(s) != 2 {
		t.Fatalf("csv with a window: %d windows, %v", len(s), err)
	}
	for _, tc := range []struct {
		path string
		opts eval.SeriesOptions
		want string
	}{
		{filepath.Join(dir, "*.csv"), eval.SeriesOptions{}, "window length"},
		{filepath.Join(dir, "none*.csv"), eval.SeriesOptions{Window: 4}, "no file matches"},
		{filepath.Join(dir, "short.csv"), eval.SeriesOptions{Window: 16}, "16 values long"},
		{filepath.Join(dir, "a.csv"), eval.SeriesOptions{Window: 4, Normalize: "minmax"}, "normalisation"},
	} {
		if _, err := eval.LoadSeries(tc.path, tc.opts); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s %+v: err %v, want %q", tc.path, tc.opts, err, tc.want)
		}
	}
}
