package anomaly

import (
	"math"
	"math/rand/v2"
	"testing"
)

// BenchmarkScorer is the per-window cost of the score stage's state
// update: both likelihoods, the rarity histogram, the range check and the
// alerter (BenchmarkScorer/likelihood-only leaves the rarity out,
// fused-no-rarity-tail the rarity likelihood's TailFloor).
func BenchmarkScorer(b *testing.B) {
	for _, c := range []struct {
		name string
		cfg  ScoreConfig
	}{{"fused", ScoreConfig{}}, {"fused-no-rarity-tail", ScoreConfig{RarityTail: -1}}, {"likelihood-only", ScoreConfig{Bins: -1, Spatial: -1}}} {
		b.Run(c.name, func(b *testing.B) {
			r := rand.New(rand.NewPCG(1, 1))
			errs := make([]float64, 4096)
			vals := make([]float64, 4096)
			for i := range errs {
				errs[i] = 0.1 * math.Exp(0.3*r.NormFloat64())
				vals[i] = 20 + 5*math.Sin(float64(i)/30) + r.NormFloat64()
			}
			s := NewScorer(c.cfg)
			b.ResetTimer()
			for i := range b.N {
				s.Update(errs[i%4096], vals[i%4096])
			}
		})
	}
}
