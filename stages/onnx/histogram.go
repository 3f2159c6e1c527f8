package onnx

import (
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// histogram is a Prometheus histogram of integer observations (nanoseconds,
// messages) that costs two uncontended atomic adds per observation: the
// stage observes three per message, which at batch 1 on a 12 µs model
// made prometheus.Histogram's four atomics and float sum (a
// compare-and-swap loop) a percent of the run. It exports what
// prometheus.Histogram would for the same observations, in the metric's
// unit (scale converts: 1e-9 for seconds from nanoseconds). A scrape
// reads the buckets and the sum one after the other, so it may count an
// observation in one and not yet in the other: the same skew any two
// metrics read in one scrape have.
type histogram struct {
	desc   *prometheus.Desc
	bounds []uint64        // upper bounds, inclusive, in integer units
	counts []atomic.Uint64 // per bound, and one more for +Inf
	sum    atomic.Uint64
	scale  float64
	labels []float64 // bounds in the metric's unit
}

// newHistogram makes a histogram whose buckets are the given upper bounds
// (in the metric's unit, ascending), observing integers that scale turns
// into that unit.
func newHistogram(name, help string, labels prometheus.Labels, buckets []float64, scale float64) *histogram {
	h := &histogram{
		desc:   prometheus.NewDesc(name, help, nil, labels),
		bounds: make([]uint64, len(buckets)),
		counts: make([]atomic.Uint64, len(buckets)+1),
		scale:  scale,
		labels: buckets,
	}
	for i, b := range buckets {
		// The largest integer whose scaled value is still within b.
		h.bounds[i] = uint64(b / scale)
		for float64(h.bounds[i]+1)*scale <= b {
			h.bounds[i]++
		}
		for h.bounds[i] > 0 && float64(h.bounds[i])*scale > b {
			h.bounds[i]--
		}
	}
	return h
}

// observe records v (in integer units); negative values count as 0.
func (h *histogram) observe(v int64) {
	u := uint64(max(v, 0))
	i := 0
	for i < len(h.bounds) && u > h.bounds[i] {
		i++
	}
	h.counts[i].Add(1)
	h.sum.Add(u)
}

// count is how many observations the histogram holds.
func (h *histogram) count() uint64 {
	var n uint64
	for i := range h.counts {
		n += h.counts[i].Load()
	}
	return n
}

func (h *histogram) Describe(ch chan<- *prometheus.Desc) { ch <- h.desc }

func (h *histogram) Collect(ch chan<- prometheus.Metric) {
	buckets := make(map[float64]uint64, len(h.labels))
	var n uint64
	for i, b := range h.labels {
		n += h.counts[i].Load()
		buckets[b] = n
	}
	n += h.counts[len(h.labels)].Load()
	ch <- prometheus.MustNewConstHistogram(h.desc, n, float64(h.sum.Load())*h.scale, buckets)
}
