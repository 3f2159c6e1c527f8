package quantize

import (
	"math"
)

// MSE chooses each activation's range to minimise the mean square error
// of quantising the values seen (rounding inside the range, clipping
// outside it), searched over ranges that clip either end.
const MSE Method = "mse"

// mseBins is the histogram resolution of the MSE search, and mseSteps how
// many candidate cut points it tries on each side (down to mseFloor of
// the seen extreme).
const (
	mseBins  = 2048
	mseSteps = 40
	mseFloor = 0.2
)

// mseRange returns the range [lo, hi] within [s.min, s.max] whose 8-bit
// quantisation has the smallest mean square error over the reservoir of
// values: each value inside the range costs step²/12 (uniform rounding
// error), each outside its square distance to the range.
func (s *stats) mseRange() (lo, hi float32) {
	if len(s.sample) == 0 || s.max <= s.min {
		return s.min, s.max
	}
	mn, mx := float64(min(s.min, 0)), float64(max(s.max, 0))
	width := (mx - mn) / mseBins
	counts := make([]float64, mseBins)
	for _, v := range s.sample {
		i := int((float64(v) - mn) / width)
		counts[max(0, min(mseBins-1, i))]++
	}
	centre := func(i int) float64 { return mn + (float64(i)+0.5)*width }
	cost := func(a, b float64) float64 {
		step := (b - a) / 255
		var e float64
		for i, c := range counts {
			if c == 0 {
				continue
			}
			switch v := centre(i); {
			case v < a:
				e += c * (a - v) * (a - v)
			case v > b:
				e += c * (v - b) * (v - b)
			default:
				e += c * step * step / 12
			}
		}
		return e
	}
	cuts := func(end float64) []float64 {
		if end == 0 {
			return []float64{0}
		}
		out := make([]float64, 0, mseSteps+1)
		for k := range mseSteps + 1 {
			out = append(out, end*(1-(1-mseFloor)*float64(k)/mseSteps))
		}
		return out
	}
	best := math.Inf(1)
	bl, bh := mn, mx
	for _, a := range cuts(mn) {
		for _, b := range cuts(mx) {
			if e := cost(a, b); e < best {
				best, bl, bh = e, a, b
			}
		}
	}
	return float32(bl), float32(bh)
}
