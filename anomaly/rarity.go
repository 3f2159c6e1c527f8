package anomaly

import "math"

// Rarity scores how unusual a sensor's reading is among its own past
// readings: the readings are counted in bins (a histogram that forgets, its
// counts halved every HalfLife readings) and the rarity of a reading is the
// inverse of its bin's share, (n+1)/(count+0.5): about the number of bins in
// use for a common value, large for a level the sensor seldom or never
// took. The bin width is fixed by the first Warmup readings (their range /
// Bins), so a sensor's usual levels fall into the same bins for good. It
// catches what the autoencoder's shape error does not: a stretch at a level
// that is within range but unusual (a cycle that stops half way, a
// flat line in the middle of the range).
type Rarity struct {
	bins, warmup, halfLife int

	lo     float64
	width  float64
	counts map[int64]float64
	total  float64
	since  int
	buf    []float64 // warm-up readings, until the width is fixed
}

// Maximum number of bins a Rarity keeps counts for (a sensor whose readings
// wander far beyond its warm-up range would otherwise grow its histogram
// without bound); readings in new bins beyond it count as never seen.
const maxRarityBins = 4096

// NewRarity returns a rarity scorer with bins bins over the range of its
// first warmup readings, forgetting with halfLife.
func NewRarity(bins, warmup, halfLife int) *Rarity {
	return &Rarity{bins: max(1, bins), warmup: max(1, warmup), halfLife: max(1, halfLife), counts: map[int64]float64{}}
}

// Update adds a reading and returns its rarity (1 until the bin width is
// fixed; NaN and infinite readings are ignored and score 1).
func (r *Rarity) Update(v float64) float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return 1
	}
	if r.width == 0 {
		r.buf = append(r.buf, v)
		if len(r.buf) < r.warmup {
			return 1
		}
		lo, hi := r.buf[0], r.buf[0]
		for _, x := range r.buf {
			lo, hi = min(lo, x), max(hi, x)
		}
		r.width = max((hi-lo)/float64(r.bins), 1e-3*max(math.Abs(lo), math.Abs(hi)), 1e-9)
		r.lo = lo
		buf := r.buf
		r.buf = nil
		for _, x := range buf {
			r.add(x)
		}
		return 1
	}
	b := r.bin(v)
	out := (r.total + 1) / (r.counts[b] + 0.5)
	r.add(v)
	return out
}

func (r *Rarity) bin(v float64) int64 {
	f := math.Floor((v - r.lo) / r.width)
	return int64(max(-1e12, min(1e12, f)))
}

func (r *Rarity) add(v float64) {
	b := r.bin(v)
	if _, ok := r.counts[b]; ok || len(r.counts) < maxRarityBins {
		r.counts[b]++
		r.total++
	}
	r.since++
	if r.since >= r.halfLife {
		r.since = 0
		r.total = 0
		for k, c := range r.counts {
			c /= 2
			if c < 0.01 {
				delete(r.counts, k)
				continue
			}
			r.counts[k] = c
			r.total += c
		}
	}
}
