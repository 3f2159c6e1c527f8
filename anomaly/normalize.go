package anomaly

import "math"

// DefaultClip bounds normalised values: a reading 10 standard deviations off
// is anomalous enough, and bounding keeps a broken sensor (a jump of 1e9)
// from saturating the model or the error statistics.
const DefaultClip = 10

// Normalizer turns one sensor's readings into z-scores, (x − mean) / std,
// with mean and std learned from a warm-up period. Until Freeze it only
// learns; after it, the statistics no longer move, so that a slow drift or a
// fault does not normalise itself away.
type Normalizer struct {
	n        int
	mean, m2 float64 // Welford's running mean and sum of squared deviations

	frozen bool
	// Mean and Std are the statistics in use once frozen.
	Mean, Std float64
	// Clip bounds the normalised values to ±Clip; 0 means DefaultClip.
	Clip float64
}

// Observe adds a reading to the warm-up statistics; it is ignored once
// frozen, and so are NaN and infinite values.
func (z *Normalizer) Observe(v float64) {
	if z.frozen || math.IsNaN(v) || math.IsInf(v, 0) {
		return
	}
	z.n++
	d := v - z.mean
	z.mean += d / float64(z.n)
	z.m2 += d * (v - z.mean)
}

// Count is the number of readings observed.
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
	z.Std = max(std, 1e-3*math.Abs(z.mean), 1e-6)
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
