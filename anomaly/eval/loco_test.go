package eval_test

import (
	"bytes"
	"math"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/edgeflow/edgeflow/anomaly"
	"github.com/edgeflow/edgeflow/anomaly/eval"
	"github.com/edgeflow/edgeflow/anomaly/nab"
)

// synthFile is a file of n rows with one labelled window [w, w+40] and
// scores of 0 but for the given rows.
func synthFile(name string, n, w int, peaks map[int]float64) (*nab.File, []anomaly.Score) {
	f := &nab.File{Name: name, Windows: []nab.Window{{Start: w, End: w + 40}}}
	sc := make([]anomaly.Score, n)
	t0 := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	for r := range n {
		f.Times = append(f.Times, t0.Add(time.Duration(r)*time.Minute))
		f.Values = append(f.Values, 0)
		sc[r] = anomaly.Score{Ready: true, Score: peaks[r]}
	}
	return f, sc
}

// TestLeaveOneCategoryOut: category a has a strong anomaly (0.8) and a
// false alarm at 0.4, category b only a weak anomaly (0.35). In-sample,
// 0.3 is best (a miss costs more than a false alarm); held out, b is
// scored at the threshold a prefers (0.5) and misses its window, so the
// held-out score is lower: the check shows a threshold that only fits
// both categories together.
func TestLeaveOneCategoryOut(t *testing.T) {
	fa, sa := synthFile("a/one.csv", 1000, 500, map[int]float64{510: 0.8, 800: 0.4})
	fb, sb := synthFile("b/two.csv", 1000, 600, map[int]float64{610: 0.35})
	files, scores := []*nab.File{fa, fb}, [][]anomaly.Score{sa, sb}
	ls, err := eval.LeaveOneCategoryOut(files, scores, anomaly.AlertConfig{Threshold: 0.3, Rest: 10}, []float64{0.3, 0.5})
	if err != nil {
		t.Fatal(err)
	}
	if len(ls) != len(nab.Profiles) {
		t.Fatalf("%d profiles", len(ls))
	}
	l := ls[0]
	if l.Profile.Name != "standard" || l.Threshold != 0.3 || len(l.Categories) != 2 {
		t.Fatalf("%+v", l)
	}
	a, b := l.Categories[0], l.Categories[1]
	if a.Name != "a" || a.Others != 0.3 || a.Own != 0.5 || a.HeldFP != 1 || b.Name != "b" || b.Others != 0.5 || b.Own != 0.3 || b.HeldFP != 0 {
		t.Fatalf("categories %+v", l.Categories)
	}
	// b held out finds nothing: its raw score is the null one.
	if b.Held != 0 || b.Shipped <= 50 || a.Held >= a.OwnScore {
		t.Errorf("b held out %.1f (want 0), at the shipped threshold %.1f; a held out %.1f, at its own %.1f", b.Held, b.Shipped, a.Held, a.OwnScore)
	}
	// In-sample the two files at 0.3 are NAB's normalised corpus score.
	res, err := nab.Summarize(files, scores, nab.EvalConfig{Score: anomaly.ScoreConfig{Alert: anomaly.AlertConfig{Threshold: 0.3, Rest: 10}}, Thresholds: []float64{0.3, 0.5}})
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(res.Fixed[0].Normalized-l.InSample) > 1e-9 || math.Abs(l.Shipped-l.InSample) > 1e-9 || !(l.HeldOut < l.InSample-10) {
		t.Errorf("in-sample %.2f (NAB %.2f), shipped %.2f, held out %.2f", l.InSample, res.Fixed[0].Normalized, l.Shipped, l.HeldOut)
	}
	var out bytes.Buffer
	if err := eval.PrintLOCO(&out, ls); err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`(?m)^leave one category out, standard: held out -?[0-9.]+, in-sample [0-9.]+ \(threshold 0.300\), at the shipped threshold [0-9.]+$`).MatchString(out.String()) ||
		!regexp.MustCompile(`(?m)^\s+b\s+1\s+1\s+[0-9.]+\s+0.300\s+[0-9.]+\s+0.500\s+0.0\s+0\s*$`).MatchString(out.String()) {
		t.Errorf("output:\n%s", out.String())
	}
	if _, err := eval.LeaveOneCategoryOut(files, scores[:1], anomaly.AlertConfig{}, nil); err == nil || !strings.Contains(err.Error(), "1 score series for 2 files") {
		t.Errorf("mismatch: %v", err)
	}
}
