package anomaly

import (
	"math"
	"math/rand/v2"
	"testing"
)

// spikyStream is a heavy-tailed signal: mostly small values with a burst of
// large ones every period updates, and, if novel > 0, one burst at novel
// larger than any before.
func spikyStream(n, period, novel int) []float64 {
	r := rand.New(rand.NewPCG(3, 3))
	out := make([]float64, n)
	for i := range out {
		out[i] = 1 + 0.2*r.Float64()
		if (i+period/2)%period < 8 { // not at the start: the first averages are of fewer values
			out[i] = 40 // the same burst each time
		}
		if novel > 0 && i >= novel && i < novel+8 {
			out[i] = 4000
		}
	}
	return out
}

// peakScore is the highest log score of a one-sided likelihood over the
// updates from `from` on.
func peakScore(values []float64, floor float64, from, to int) float64 {
	l := NewLikelihood(LikelihoodConfig{OneSided: true, TailFloor: floor})
	peak := 0.0
	for i, v := range values {
		lik, ready := l.Update(v)
		if ready && i >= from && i < to {
			peak = max(peak, LogScore(lik))
		}
	}
	return peak
}

func TestTailFloorTempersRecurringDeviations(t *testing.T) {
	// Bursts every 500 updates: a normal fit of the averages puts them far
	// out, but the history shows them again and again (13 of every 500
	// averages hold the whole burst).
	s := spikyStream(6000, 500, 0)
	without, with := peakScore(s, 0, 3000, 6000), peakScore(s, DefaultRarityTail, 3000, 6000)
	if without < 0.4 {
		t.Fatalf("without the floor the recurring bursts peak at %.3f; the test needs a normal fit that overrates them (want >= 0.4)", without)
	}
	// The bursts' averages differ a little (the quiet readings between
	// are noisy), so a few rank near the top of the history; most do not.
	if with >= 0.5 || with > without-0.2 {
		t.Fatalf("with the floor the recurring bursts peak at %.3f (without %.3f); want below 0.5 and 0.2 lower", with, without)
	}
}

func TestTailFloorKeepsNovelDeviations(t *testing.T) {
	// A burst a hundred times larger than any before: nothing in the
	// history matches it, so the floor must not lower it.
	s := spikyStream(6000, 500, 4250)
	without, with := peakScore(s, 0, 4250, 4300), peakScore(s, DefaultRarityTail, 4250, 4300)
	if with < 0.5 || math.Abs(with-without) > 1e-12 {
		t.Fatalf("novel burst peaks at %.3f with the floor, %.3f without; want the same, >= 0.5", with, without)
	}
}

func TestTailShareMatchesTheHistory(t *testing.T) {
	// The binned share must agree with a plain count of the fitted history
	// to within a bin's worth of averages.
	for _, oneSided := range []bool{true, false} {
		l := NewLikelihood(LikelihoodConfig{OneSided: oneSided, TailFloor: 1})
		for _, v := range spikyStream(3000, 300, 0) {
			l.Update(v)
		}
		for _, z := range []float64{0.5, 1, 2, 3, 5, 8} {
			avg := l.mean + z*l.std
			want := 0
			for _, v := range l.hist {
				e := float64(v) - l.mean
				if oneSided && e >= z*l.std || !oneSided && math.Abs(e) >= z*l.std {
					want++
				}
			}
			got := l.tailShare(avg) * float64(len(l.hist))
			// at most the averages within one bin of z
			slack := 0
			for _, v := range l.hist {
				e := (float64(v) - l.mean) / l.std
				if !oneSided {
					e = math.Abs(e)
				}
				if math.Abs(e-z) <= tailStep {
					slack++
				}
			}
			if math.Abs(got-float64(want)) > float64(slack)+1e-9 {
				t.Errorf("one-sided %v, z %.1f: share counts %.1f averages, the history %d (slack %d)", oneSided, z, got, want, slack)
			}
		}
	}
}
