package nab

import (
	"math"
	"os"
	"testing"
)

func near(t *testing.T, what string, got, want float64) {
	t.Helper()
	if math.Abs(got-want) > 1e-4 {
		t.Fatalf("%s = %.6f, want %.6f", what, got, want)
	}
}

func TestScaledSigmoidHandValues(t *testing.T) {
	near(t, "σ(-1)", ScaledSigmoid(-1), 0.986614)
	near(t, "σ(-0.5)", ScaledSigmoid(-0.5), 0.848284)
	near(t, "σ(0)", ScaledSigmoid(0), 0)
	near(t, "σ(1)", ScaledSigmoid(1), -0.986614)
	near(t, "σ(3)", ScaledSigmoid(3), -1)
	if ProbationLength(100) != 15 || ProbationLength(10000) != 750 || ProbationLength(4032) != 604 {
		t.Fatal("probation lengths")
	}
}

// A 100-row file: probation rows 0-14, one window at rows 50-59 (width 10).
var handWindows = []Window{{Start: 50, End: 59}}

func scoresAt(n int, rows ...int) []float64 {
	s := make([]float64, n)
	for _, r := range rows {
		s[r] = 1
	}
	return s
}

func TestHandCases(t *testing.T) {
	raw := func(p Profile, rows ...int) float64 {
		pts, err := SweepScores(scoresAt(100, rows...), handWindows, "f", p)
		if err != nil {
			t.Fatal(err)
		}
		return At(ScoreByThreshold(pts, p), 1).Score
	}
	// Earliest row of the window: σ(−10/10)·A_TP/σ(−1) = exactly A_TP.
	near(t, "detection at the window start", raw(Standard, 50), 1)
	// Last row: position −1/10: σ(−0.1)/σ(−1) = 0.244919/0.986614.
	near(t, "detection at the window end", raw(Standard, 59), 0.244919/0.986614)
	// Only the earliest detection in a window counts.
	near(t, "two detections in a window", raw(Standard, 59, 55), ScaledSigmoid(-0.5)/0.986614)
	// No detection: −A_FN; reward_low_FN doubles it.
	near(t, "miss", raw(Standard), -1)
	near(t, "miss, reward_low_FN", raw(RewardLowFN), -2)
	// A false positive before any window weighs −A_FP; in probation nothing.
	near(t, "early FP", raw(Standard, 20, 50), 1-0.11)
	near(t, "early FP, reward_low_FP", raw(RewardLowFP, 20, 50), 1-0.22)
	near(t, "FP in probation", raw(Standard, 5, 50), 1)
	near(t, "FP on the last probation row", raw(Standard, 14, 50), 1)
	near(t, "FP on the first scored row", raw(Standard, 15, 50), 1-0.11)
	// After the window: position |59−70|/(10−1) → σ(1.2222)·A_FP.
	near(t, "late FP", raw(Standard, 50, 70), 1+0.11*ScaledSigmoid(11.0/9))
	near(t, "FP right after", raw(Standard, 50, 60), 1+0.11*ScaledSigmoid(1.0/9))
}

// Best takes the first of equal scores: the highest such threshold.
func TestBestPrefersHighestThreshold(t *testing.T) {
	sweep := []ThresholdScore{{Threshold: 0.9, Score: 1}, {Threshold: 0.7, Score: 2}, {Threshold: 0.5, Score: 2}, {Threshold: 0.3, Score: -1}}
	if b := Best(sweep); b.Threshold != 0.7 {
		t.Fatalf("best %+v, want threshold 0.7 (score 2, the higher of the tied thresholds)", b)
	}
}

func TestThresholdSweepAndNormalisation(t *testing.T) {
	// Row 52 scores 0.9 (in the window), row 30 scores 0.8 (an FP), the
	// rest 0.1. Thresholds: 1.1 → miss (−1); 0.9 → 52 detected; 0.8 →
	// plus the FP; 0.1 → everything.
	s := make([]float64, 100)
	for i := range s {
		s[i] = 0.1
	}
	s[52], s[30] = 0.9, 0.8
	pts, _ := SweepScores(s, handWindows, "f", Standard)
	sweep := ScoreByThreshold(pts, Standard)
	if len(sweep) != 4 || sweep[0].Threshold != 1.1 || sweep[1].Threshold != 0.9 || sweep[3].Threshold != 0.1 {
		t.Fatalf("sweep %+v", sweep)
	}
	tp52 := ScaledSigmoid(-8.0/10) / ScaledSigmoid(-1)
	near(t, "at 1.1", sweep[0].Score, -1)
	near(t, "at 0.9", sweep[1].Score, tp52)
	near(t, "at 0.8", sweep[2].Score, tp52-0.11)
	if b := Best(sweep); b.Threshold != 0.9 {
		t.Fatalf("best threshold %v, want 0.9", b.Threshold)
	}
	near(t, "At(0.85)", At(sweep, 0.85).Score, tp52)
	if sweep[1].TP != 1 || sweep[1].FN != 9 || sweep[2].FP != 1 {
		t.Fatalf("counts %+v", sweep[1:3])
	}

	f := &File{Name: "f", Values: make([]float64, 100), Windows: handWindows}
	res, err := Score([]*File{f}, [][]float64{s}, Standard)
	if err != nil {
		t.Fatal(err)
	}
	near(t, "null", res.Null, -1)
	near(t, "perfect", res.Perfect, 1)
	near(t, "normalised", res.Normalized, 100*(tp52+1)/2)
	if res.Files[0].Detected != 1 || res.Files[0].Windows != 1 {
		t.Fatalf("file result %+v", res.Files[0])
	}
}

func TestSweepRejectsBadWindows(t *testing.T) {
	if _, err := SweepScores(make([]float64, 10), []Window{{5, 20}}, "f", Standard); err == nil {
		t.Fatal("window past the end: want an error")
	}
	if _, err := SweepScores(make([]float64, 30), []Window{{5, 8}, {7, 9}}, "f", Standard); err == nil {
		t.Fatal("overlapping windows: want an error")
	}
}

// TestShortEvalBeatsNaiveDetector runs the detector on three NAB files and
// compares it, in the same run, with a naive detector: the distance of each
// reading from the probationary mean in standard deviations.
func TestShortEvalBeatsNaiveDetector(t *testing.T) {
	dir := "../../../shared/data/nab"
	if _, err := os.Stat(dir); err != nil {
		t.Skipf("no NAB corpus at %s", dir)
	}
	all, err := LoadCorpus(dir)
	if err != nil {
		t.Fatal(err)
	}
	var files []*File
	for _, f := range all {
		switch f.Name {
		case "realKnownCause/ec2_request_latency_system_failure.csv", "realKnownCause/nyc_taxi.csv",
			"artificialWithAnomaly/art_daily_jumpsup.csv":
			files = append(files, f)
		}
	}
	if len(files) != 3 {
		t.Fatalf("found %d of the 3 files", len(files))
	}
	last := map[string][2]int{}
	res, err := Evaluate(files, EvalConfig{Train: trainFast,
		Progress: func(phase string, done, total int) { last[phase] = [2]int{done, total} }})
	if err != nil {
		t.Fatal(err)
	}
	if want := len(Profiles) * len(DefaultThresholds()); last["scoring files"] != [2]int{3, 3} || last["sweeping thresholds"] != [2]int{want, want} {
		t.Errorf("progress ended at %v, want scoring files 3/3 and sweeping thresholds %d/%d", last, want, want)
	}
	naive := make([][]float64, len(files))
	for i, f := range files {
		z := warmupNormalizer(f.Values)
		naive[i] = make([]float64, len(f.Values))
		for r, v := range f.Values {
			naive[i][r] = math.Min(1, math.Abs(v-z.Mean)/z.Std/10)
		}
	}
	base, err := Score(files, naive, Standard)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("autoencoder %.1f, naive z-score %.1f", res.Alerts[0].Normalized, base.Normalized)
	if res.Alerts[0].Normalized < base.Normalized+5 {
		t.Fatalf("autoencoder scores %.1f, naive detector %.1f: want a clear win", res.Alerts[0].Normalized, base.Normalized)
	}
}
