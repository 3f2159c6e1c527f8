package admin

import (
	"math"

	dto "github.com/prometheus/client_model/go"
)

// histDelta is what a histogram gained between two samples.
type histDelta struct {
	count  float64
	sum    float64
	bounds []float64 // upper bounds, ascending, without +Inf
	cum    []float64 // cumulative counts per bound
}

func (d *histDelta) add(o histDelta) {
	if d.bounds == nil {
		d.bounds = o.bounds
		d.cum = make([]float64, len(o.cum))
	}
	if len(o.cum) != len(d.cum) {
		return // different buckets: not mergeable
	}
	d.count += o.count
	d.sum += o.sum
	for i := range o.cum {
		d.cum[i] += o.cum[i]
	}
}

// delta returns cur - prev, or cur alone when prev is nil or the histogram
// was reset (a new pipeline after a reload).
func delta(cur, prev *dto.Histogram) histDelta {
	d := histDelta{count: float64(cur.GetSampleCount()), sum: cur.GetSampleSum()}
	for _, b := range cur.GetBucket() {
		if math.IsInf(b.GetUpperBound(), 1) {
			continue
		}
		d.bounds = append(d.bounds, b.GetUpperBound())
		d.cum = append(d.cum, float64(b.GetCumulativeCount()))
	}
	if prev == nil || prev.GetSampleCount() > cur.GetSampleCount() || len(prev.GetBucket()) != len(cur.GetBucket()) {
		return d
	}
	d.count -= float64(prev.GetSampleCount())
	d.sum -= prev.GetSampleSum()
	i := 0
	for _, b := range prev.GetBucket() {
		if math.IsInf(b.GetUpperBound(), 1) {
			continue
		}
		if i < len(d.cum) {
			d.cum[i] -= float64(b.GetCumulativeCount())
		}
		i++
	}
	return d
}

// mean is the average observation, or NaN without any.
func (d histDelta) mean() float64 {
	if d.count <= 0 {
		return math.NaN()
	}
	return d.sum / d.count
}

// quantile estimates the q-quantile the way PromQL's histogram_quantile
// does: linear interpolation inside the bucket that holds the rank. NaN
// without observations; the largest finite bound when the rank falls in
// +Inf.
func (d histDelta) quantile(q float64) float64 {
	if d.count <= 0 || len(d.bounds) == 0 {
		return math.NaN()
	}
	rank := q * d.count
	lower, below := 0.0, 0.0
	for i, upper := range d.bounds {
		if d.cum[i] >= rank {
			in := d.cum[i] - below
			if in <= 0 {
				return upper
			}
			return lower + (upper-lower)*(rank-below)/in
		}
		lower, below = upper, d.cum[i]
	}
	return d.bounds[len(d.bounds)-1]
}
