package onnx

import (
	"math"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// TestHistogramMatchesPrometheus feeds the same observations to histogram
// and to prometheus.Histogram and compares what a scrape sees: counts per
// bucket (bounds inclusive, as Prometheus's), the total and the sum.
func TestHistogramMatchesPrometheus(t *testing.T) {
	buckets := prometheus.ExponentialBuckets(1e-5, 4, 10)
	ours := newHistogram("x_seconds", "test", nil, buckets, 1e-9)
	ref := prometheus.NewHistogram(prometheus.HistogramOpts{Name: "x_seconds", Help: "test", Buckets: buckets})
	// On, just below and just above bounds, below the first and above the last.
	ns := []int64{0, 1, 9_999, 10_000, 10_001, 40_000, 40_001, 2_621_440_000, 2_621_440_001, 5e9, -3}
	for _, v := range ns {
		ours.observe(v)
		ref.Observe(float64(max(v, 0)) * 1e-9)
	}
	got, want := scrape(t, ours), scrape(t, ref)
	if got.GetSampleCount() != want.GetSampleCount() || math.Abs(got.GetSampleSum()-want.GetSampleSum()) > 1e-9 {
		t.Errorf("count %d sum %v, want %d %v", got.GetSampleCount(), got.GetSampleSum(), want.GetSampleCount(), want.GetSampleSum())
	}
	if len(got.GetBucket()) != len(want.GetBucket()) {
		t.Fatalf("%d buckets, want %d", len(got.GetBucket()), len(want.GetBucket()))
	}
	for i, b := range want.GetBucket() {
		g := got.GetBucket()[i]
		if g.GetUpperBound() != b.GetUpperBound() || g.GetCumulativeCount() != b.GetCumulativeCount() {
			t.Errorf("bucket %d: le %v count %d, want le %v count %d", i,
				g.GetUpperBound(), g.GetCumulativeCount(), b.GetUpperBound(), b.GetCumulativeCount())
		}
	}
	if ours.count() != uint64(len(ns)) {
		t.Errorf("count() %d, want %d", ours.count(), len(ns))
	}
}

func scrape(t *testing.T, c prometheus.Collector) *dto.Histogram {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	if err := reg.Register(c); err != nil {
		t.Fatal(err)
	}
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	return families[0].GetMetric()[0].GetHistogram()
}
