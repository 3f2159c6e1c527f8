package anomaly

import (
	"math"
	"math/rand/v2"
	"testing"
)

// errors returns log-normal reconstruction errors with faults (errors ×
// factor) of the given length starting at each of starts.
func errorStream(n int, starts []int, length int, factor float64, seed uint64) []float64 {
	r := rand.New(rand.NewPCG(seed, 9))
	out := make([]float64, n)
	for i := range out {
		out[i] = 0.05 * math.Exp(0.3*r.NormFloat64())
	}
	for _, s := range starts {
		for i := s; i < s+length && i < n; i++ {
			out[i] *= factor
		}
	}
	return out
}

func TestLikelihoodIsCalibratedOnNormalData(t *testing.T) {
	s := NewScorer(LikelihoodConfig{}, AlertConfig{})
	above := 0
	alerts := 0
	n := 20000
	for _, e := range errorStream(n, nil, 0, 1, 1) {
		sc := s.Update(e)
		if sc.Ready && sc.Likelihood > 0.99 {
			above++
		}
		if sc.Alert {
			alerts++
		}
	}
	// Two-sided: P(|z| > 2.33) ≈ 2%; averaging correlates values, so allow
	// a wide band, but it must be a tail, not a constant.
	if frac := float64(above) / float64(n); frac < 0.002 || frac > 0.06 {
		t.Fatalf("%.3f of normal windows have likelihood > 0.99; want about 0.02", frac)
	}
	if alerts > 2 {
		t.Fatalf("%d alerts on 20000 normal windows; want at most 2", alerts)
	}
}

func TestInjectedFaultsAlertOnceEach(t *testing.T) {
	starts := []int{3000, 6000, 9000, 12000}
	s := NewScorer(LikelihoodConfig{}, AlertConfig{})
	var alertsAt []int
	for i, e := range errorStream(15000, starts, 40, 30, 2) {
		if s.Update(e).Alert {
			alertsAt = append(alertsAt, i)
		}
	}
	if len(alertsAt) != len(starts) {
		t.Fatalf("alerts at %v for faults at %v: want exactly one each", alertsAt, starts)
	}
	for k, at := range alertsAt {
		if at < starts[k] || at > starts[k]+10 {
			t.Fatalf("alert %d at %d, fault at %d: want it within 10 windows", k, at, starts[k])
		}
	}
}

func TestAlerterHysteresis(t *testing.T) {
	a := NewAlerter(AlertConfig{Threshold: 0.5, Release: 0.3, Cooldown: 3})
	seq := []float64{0.1, 0.6, 0.7, 0.4, 0.6, 0.2, 0.2, 0.2, 0.6, 0.9}
	want := []bool{false, true, false, false, false, false, false, false, true, false}
	for i, v := range seq {
		if got := a.Update(v); got != want[i] {
			t.Fatalf("step %d (score %v): alert %v, want %v", i, v, got, want[i])
		}
	}
}

func TestLogScore(t *testing.T) {
	if s := LogScore(0.99999); math.Abs(s-0.5) > 1e-3 {
		t.Fatalf("LogScore(0.99999) = %v, want 0.5", s)
	}
	if LogScore(0.5) > 0.04 || LogScore(1) < 0.999 || LogScore(0) != 0 {
		t.Fatalf("LogScore(0.5)=%v (1)=%v (0)=%v", LogScore(0.5), LogScore(1), LogScore(0))
	}
}
