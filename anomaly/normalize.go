package anomaly

import "math"

// DefaultClip bounds normalised values: a reading 10 standard deviations off
// is anomalous enough, and bounding keeps a broken sensor (a jump of 1e9)
// from saturating the model or the error statistics.
const DefaultClip = 10

// Normalizer turns one sensor's readings into z-scores, (x − mean) / std,
// with mean and std learned from a warm-up period. Until Freeze it only
// learns. After it, with HalfLife 0 the statistics no longer move; with a
// HalfLife they follow the sensor as exponentially weighted averages, so
// that a level shift or a new operating point stops looking like a fault
// after a few half-lives instead of being an error forever.
type Normalizer struct {
	n        int
	mean, m2 float64 // Welford's running mean and sum of squared deviations

	frozen bool
	// Mean and Std are the statistics in use once frozen.
	Mean, Std float64
	// Clip bounds the normalised values to ±Clip; 0 means DefaultClip.
	Clip float64
	// HalfLife, when positive, is how many readings observed after Freeze
	// halve the weight of older ones in Mean and Std.
	HalfLife int
	floor    float64 // least Std, fixed at Freeze
	variance float64 // exponentially weighted, after Freeze
}

// Observe adds a reading to the statistics: to the warm-up statistics until
// Freeze, then (with a HalfLife) to the moving ones. NaN and infinite values
// are ignored.
func (z *Normalizer) Observe(v float64) {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return
	}
	if z.frozen {
		if z.HalfLife > 0 {
			a := math.Ln2 / float64(z.HalfLife)
			d := v - z.Mean
			z.Mean += a * d
			z.variance = (1 - a) * (z.variance + a*d*d)
			z.Std = max(math.Sqrt(z.variance), z.floor)
		}
		return
	}
	z.n++
	d := v - z.mean
	z.mean += d / float64(z.n)
	z.m2 += d * (v - z.mean)
}

// Count is the number of readings observed before Freeze.
func (z *Normalizer) Count() int { return z.n }

// Frozen reports whether the statistics are fixed.
func (z *Normalizer) Frozen() bool { return z.frozen }

// Freeze fixes the statistics. The standard deviation has a floor relative
// to the mean, so that a sensor that was perfectly flat during warm-up still
// normalises to finite values (and any change stands out).
func (z *Normalizer) Freeze() {
	if z.frozen {
		return
	}
	z.frozen = true
	z.Mean = z.mean
	std := 0.0
	if z.n > 1 {
		std = math.Sqrt(z.m2 / float64(z.n-1))
	}
	z.floor = max(1e-3*math.Abs(z.mean), 1e-6)
	z.Std = max(std, z.floor)
	z.variance = z.Std * z.Std
}

// Apply writes the normalised src into dst (allocated when short) and
// returns it. It freezes the statistics first if they are not yet.
func (z *Normalizer) Apply(dst, src []float32) []float32 {
	z.Freeze()
	if cap(dst) < len(src) {
		dst = make([]float32, len(src))
	}
	dst = dst[:len(src)]
	clip := z.Clip
	if clip <= 0 {
		clip = DefaultClip
	}
	for i, v := range src {
		x := (float64(v) - z.Mean) / z.Std
		if math.IsNaN(x) {
			x = 0
		}
		dst[i] = float32(max(-clip, min(clip, x)))
	}
	return dst
}
