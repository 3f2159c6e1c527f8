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
	s := NewScorer(ScoreConfig{Bins: -1})
	above := 0
	alerts := 0
	n := 20000
	for _, e := range errorStream(n, nil, 0, 1, 1) {
		sc := s.Update(e, math.NaN())
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
	s := NewScorer(ScoreConfig{Bins: -1})
	var alertsAt []int
	for i, e := range errorStream(15000, starts, 40, 30, 2) {
		if s.Update(e, math.NaN()).Alert {
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

func TestAlerterRests(t *testing.T) {
	a := NewAlerter(AlertConfig{Threshold: 0.5, Rest: 3})
	seq := []float64{0.1, 0.6, 0.7, 0.9, 0.6, 0.2, 0.6, 0.2, 0.2, 0.9}
	want := []bool{false, true, false, false, true, false, false, false, false, true}
	for i, v := range seq {
		if got := a.Update(v); got != want[i] {
			t.Fatalf("step %d (score %v): alert %v, want %v", i, v, got, want[i])
		}
	}
}

// A reading far beyond the range seen so far scores 1 at once, and a run of
// readings at a level the sensor never took (within its range) is judged
// rare: the two checks that do not depend on the model.
func TestScorerSpatialAndRarity(t *testing.T) {
	r := rand.New(rand.NewPCG(4, 4))
	s := NewScorer(ScoreConfig{Alert: AlertConfig{Threshold: 0.5, Rest: 100}})
	value := func(i int) float64 { // a square wave between 0 and 10
		if (i/10)%2 == 0 {
			return 0.1 * r.NormFloat64()
		}
		return 10 + 0.1*r.NormFloat64()
	}
	var alerts []int
	for i := range 6000 {
		v := value(i)
		switch {
		case i >= 3000 && i < 3100: // stuck half way
			v = 5
		case i == 5000: // far above the range
			v = 30
		}
		sc := s.Update(0.1*math.Exp(0.2*r.NormFloat64()), v)
		if sc.Alert {
			alerts = append(alerts, i)
		}
		if i == 5000 && sc.Score != 1 {
			t.Fatalf("reading 30 after a range of 0..10 scored %v, want 1", sc.Score)
		}
	}
	if len(alerts) != 2 || alerts[0] < 3000 || alerts[0] > 3030 || alerts[1] != 5000 {
		t.Fatalf("alerts at %v: want one within 30 readings of 3000 and one at 5000", alerts)
	}
}

func TestNormalizerFollowsALevelShift(t *testing.T) {
	z := &Normalizer{HalfLife: 100}
	for i := range 200 {
		z.Observe(float64(i % 2))
	}
	z.Freeze()
	for i := range 1000 {
		z.Observe(50 + float64(i%2))
	}
	if got := z.Apply(nil, []float32{51})[0]; math.Abs(float64(got)) > 1.5 {
		t.Fatalf("after 10 half-lives at the new level, it normalises to %v; want within 1", got)
	}
	frozen := &Normalizer{}
	frozen.Observe(0)
	frozen.Observe(1)
	frozen.Freeze()
	frozen.Observe(50)
	if frozen.Mean != 0.5 {
		t.Fatalf("a normaliser without half-life moved to %v", frozen.Mean)
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

// TestLikelihoodTailIsTheFits: between two estimates the fit (mean, spread
// and the points it was fitted on) does not change, so neither may the
// likelihood of the same recent average. The Student-t tail once took its
// degrees of freedom from the history as it grew instead of from the
// points fitted: a young sensor's fit, made on 100 averages, was read with
// the confidence of up to 199, which raised false alarms on the demo's
// machines right after their warm-up.
func TestLikelihoodTailIsTheFits(t *testing.T) {
	l := NewLikelihood(LikelihoodConfig{})
	r := rand.New(rand.NewPCG(3, 9))
	for range 100 {
		l.Update(0.05 * math.Exp(0.3*r.NormFloat64()))
	}
	// The first estimate is made on the 100th update; from here to the
	// 200th the fit stands. After 20 equal errors the average is constant.
	var first float64
	for i := 100; i < 199; i++ {
		lik, ready := l.Update(0.08)
		if !ready {
			t.Fatalf("update %d: not ready after the first estimate", i)
		}
		switch {
		case i == 120:
			first = lik
			if lik < 0.9 || lik > 0.99999 {
				t.Fatalf("update %d: likelihood %v of a raised average: want a clear but finite tail", i, lik)
			}
		case i > 120 && lik != first:
			t.Fatalf("update %d: likelihood %v, %v at update 120 with the same fit and average", i, lik, first)
		}
	}
}

// TestRebaseShiftsTheHistory: after Rebase and Learn errors of a new model
// 10× lower, the fit is centred on the new level with the old history's
// spread, also when the history ring has wrapped.
func TestRebaseShiftsTheHistory(t *testing.T) {
	for _, history := range []int{200, 8640} {
		l := NewLikelihood(LikelihoodConfig{History: history})
		for _, e := range errorStream(500, nil, 0, 1, 4) {
			l.Update(e)
		}
		oldMean, oldStd := l.Distribution()
		l.Rebase()
		for i, e := range errorStream(100, nil, 0, 1, 5) {
			if p, ready := l.Update(e / 10); ready || p != 0.5 {
				t.Fatalf("history %d: update %d after Rebase gave likelihood %v ready %v", history, i, p, ready)
			}
		}
		mean, std := l.Distribution()
		if d := mean - (oldMean - math.Log(10)); math.Abs(d) > 0.1 {
			t.Fatalf("history %d: mean %.3f after re-basing, want %.3f − ln 10 = %.3f", history, mean, oldMean, oldMean-math.Log(10))
		}
		if std > 1.5*oldStd || std < oldStd/1.5 {
			t.Fatalf("history %d: std %.3f after re-basing, was %.3f", history, std, oldStd)
		}
		if p, ready := l.Update(0.005); !ready || LogScore(p) >= 0.5 {
			t.Fatalf("history %d: an error at the new level scored %v (ready %v)", history, LogScore(p), ready)
		}
	}
}
