package generate

import (
	"math"
	"math/rand/v2"
)

// keyState is the signal and anomaly state of one simulated sensor.
type keyState struct {
	id    string
	idAny any // id boxed once, so that each message does not allocate it
	rng   *rand.Rand
	phase float64
	n     int // readings produced so far

	level float64 // current level of the steps waveform
	last  float64 // last reading, for stuck anomalies

	kind      anomalyKind // the anomaly in progress, or none
	remaining int         // readings left in it
	delta     float64     // a shift's offset
}

func (k *keyState) init(c *config, i int) {
	k.id = c.keys[i]
	k.idAny = k.id
	// Each key has its own stream so that adding keys does not change the
	// readings of the others.
	k.rng = rand.New(rand.NewPCG(c.seed, uint64(i)))
	if len(c.keys) > 1 {
		k.phase = 2 * math.Pi * float64(i) / float64(len(c.keys))
	}
	k.level = c.amplitude * (2*k.rng.Float64() - 1)
}

// next returns the key's next reading and whether it is anomalous.
func (k *keyState) next(c *config) (float64, bool) {
	n := k.n
	k.n++
	var v float64
	switch c.waveform {
	case "sine":
		v = c.amplitude * math.Sin(2*math.Pi*float64(n)/float64(c.period)+k.phase)
	case "noise":
		v = c.amplitude * k.rng.NormFloat64()
	case "steps":
		if n > 0 && n%c.period == 0 {
			k.level = c.amplitude * (2*k.rng.Float64() - 1)
		}
		v = k.level
	}
	v += c.offset
	if c.noise > 0 {
		v += c.noise * k.rng.NormFloat64()
	}

	if k.kind == none && len(c.kinds) > 0 {
		start := c.every > 0 && n > 0 && n%c.every == 0
		if !start && c.prob > 0 {
			start = k.rng.Float64() < c.prob
		}
		if start {
			k.begin(c)
		}
	}
	anomalous := k.kind != none
	switch k.kind {
	case spike:
		v = c.offset + k.delta
	case shift:
		v += k.delta
	case stuck:
		v = k.last
	}
	if anomalous {
		k.remaining--
		if k.remaining <= 0 {
			k.kind = none
		}
	}
	k.last = v
	return v, anomalous
}

func (k *keyState) begin(c *config) {
	k.kind = c.kinds[k.rng.IntN(len(c.kinds))]
	k.remaining = c.duration
	sign := 1.0
	if k.rng.IntN(2) == 0 {
		sign = -1
	}
	k.delta = sign * c.magnitude
	switch k.kind {
	case spike:
		k.remaining = 1
	case stuck:
		if k.n == 1 {
			// Nothing to repeat yet: the first reading cannot be stuck.
			k.kind = none
		}
	}
}
