package anomaly

import (
	"math"
	"math/rand/v2"
)

// SyntheticSeries returns n readings of a made-up, fault-free sensor: a mix
// of cycles, square waves, ramps, random walks, flat stretches and noise,
// whose kind and parameters are drawn from r. They stand in for "normal
// operation" when the autoencoder is pre-trained before it has seen any real
// sensor (see SyntheticWindows).
func SyntheticSeries(n int, r *rand.Rand) []float64 {
	out := make([]float64, n)
	noise := math.Pow(10, -2.5+2.5*r.Float64()) // 0.003 .. 1 of the signal's scale
	level := 0.0
	for i := 0; i < n; {
		seg := min(n-i, 200+r.IntN(2000))
		period := math.Pow(10, 1+2*r.Float64()) // 10 .. 1000 readings
		amp := r.Float64()
		phase := r.Float64() * 2 * math.Pi
		kind := r.IntN(6)
		duty := 0.2 + 0.6*r.Float64()
		slope := (r.Float64() - 0.5) * 4 / float64(seg)
		walk := 0.0
		for k := range seg {
			t := float64(i+k)*2*math.Pi/period + phase
			var v float64
			switch kind {
			case 0: // cycle
				v = amp * math.Sin(t)
			case 1: // two cycles
				v = amp*math.Sin(t) + 0.3*amp*math.Sin(3.1*t+1)
			case 2: // square wave
				if math.Mod(t, 2*math.Pi) < duty*2*math.Pi {
					v = amp
				}
			case 3: // ramp
				v = slope * float64(k)
			case 4: // random walk
				walk += 0.05 * r.NormFloat64()
				v = walk
			case 5: // flat
			}
			out[i+k] = level + v + noise*r.NormFloat64()
		}
		level = out[i+seg-1] - (out[i+seg-1]-level)*r.Float64()
		i += seg
	}
	return out
}

// SyntheticWindows returns about n training windows of length w cut from
// synthetic series (SyntheticSeries), each series normalised by its own
// statistics as the anomaly stage normalises a sensor. A model trained on
// them has seen no real sensor, so it can be shipped and scored on any
// stream without learning from that stream's (or any scored stream's) data.
func SyntheticWindows(n, w int, seed uint64) [][]float32 {
	r := rand.New(rand.NewPCG(seed, 0x5eed))
	var out [][]float32
	for len(out) < n {
		vals := SyntheticSeries(4000, r)
		z := &Normalizer{}
		for _, v := range vals {
			z.Observe(v)
		}
		z.Freeze()
		for _, x := range Windows(vals, 0, len(vals), w, z) {
			if r.IntN(8) == 0 && len(out) < n {
				out = append(out, x)
			}
		}
	}
	return out
}
