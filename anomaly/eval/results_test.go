package eval_test

import (
	"bytes"
	"fmt"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/edgeflow/edgeflow/anomaly"
	"github.com/edgeflow/edgeflow/anomaly/eval"
	"github.com/edgeflow/edgeflow/anomaly/nab"
)

// TestNABResults writes results files for two NAB files, reads them back
// and scores them again: the same rows and times as the input, scores in
// [0,1], the alert column the alerter's at the stage's default threshold, and the
// same NAB scores as eval nab printed.
func TestNABResults(t *testing.T) {
	files, err := eval.SelectFiles(corpus(t), []string{"artificialWithAnomaly/art_daily_jumpsup.csv", "realKnownCause/rogue_agent_key_hold.csv"})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	var out bytes.Buffer
	err = eval.NAB(&out, files, eval.NABOptions{Runtime: eval.Go, Results: dir,
		Config: nab.EvalConfig{Window: 16, Mode: nab.PerSensor, Train: anomaly.TrainConfig{Epochs: 2, Seed: 1}}})
	if err != nil {
		t.Fatal(err)
	}
	s := out.String()
	scores := make([][]float64, len(files))
	alerts := make([][]float64, len(files))
	fired := 0
	for i, f := range files {
		p := filepath.Join(dir, "edgeflow", filepath.Dir(f.Name), "edgeflow_"+filepath.Base(f.Name))
		if got := nab.ResultsPath(dir, "edgeflow", f.Name); got != p {
			t.Fatalf("ResultsPath %s, want %s", got, p)
		}
		rr, err := nab.ReadResults(p)
		if err != nil {
			t.Fatal(err)
		}
		if len(rr.Times) != len(f.Times) || len(rr.Alert) != len(f.Times) {
			t.Fatalf("%s: %d rows (%d alerts), want %d", p, len(rr.Times), len(rr.Alert), len(f.Times))
		}
		inWindow := map[int]bool{}
		for _, w := range f.Windows {
			for r := w.Start; r <= w.End; r++ {
				inWindow[r] = true
			}
		}
		a := anomaly.NewAlerter(anomaly.AlertConfig{Threshold: anomaly.DefaultThreshold})
		for r := range f.Times {
			if !rr.Times[r].Equal(f.Times[r]) || rr.Values[r] != f.Values[r] {
				t.Fatalf("%s row %d: %s %v, want %s %v", p, r, rr.Times[r], rr.Values[r], f.Times[r], f.Values[r])
			}
			if sc := rr.Scores[r]; sc < 0 || sc > 1 {
				t.Fatalf("%s row %d: score %v", p, r, sc)
			}
			if (rr.Label[r] == 1) != inWindow[r] {
				t.Fatalf("%s row %d: label %v", p, r, rr.Label[r])
			}
			// Rows not yet ready score 0, which never fires: replaying
			// the alerter over every row gives the same alerts.
			want := 0.0
			if a.Update(rr.Scores[r]) {
				want = 1
			}
			if rr.Alert[r] != want || (want == 1 && rr.Scores[r] < anomaly.DefaultThreshold) {
				t.Fatalf("%s row %d: alert %v at score %v, want %v", p, r, rr.Alert[r], rr.Scores[r], want)
			}
			fired += int(want)
		}
		scores[i], alerts[i] = rr.Scores, rr.Alert
	}
	if fired == 0 {
		t.Fatal("no alert in either file: the alert column is not tested")
	}
	line := "results: 2 files in " + filepath.Join(dir, "edgeflow") + fmt.Sprintf("; their alert column (threshold %.3f) scores", anomaly.DefaultThreshold)
	for _, p := range nab.Profiles {
		raw, err := nab.Score(files, scores, p)
		if err != nil {
			t.Fatal(err)
		}
		row := regexp.MustCompile(`(?m)^\s*` + p.Name + `\s.*\s(-?[0-9.]+)\s*$`).FindStringSubmatch(s)
		if row == nil || row[1] != fmt.Sprintf("%.1f", raw.Normalized) {
			t.Errorf("%s: the written anomaly_score scores %.1f; printed row %q", p.Name, raw.Normalized, row)
		}
		al, err := nab.Score(files, alerts, p)
		if err != nil {
			t.Fatal(err)
		}
		line += fmt.Sprintf(" %s %.1f", p.Name, al.Normalized)
	}
	if !regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(line) + `$`).MatchString(s) {
		t.Errorf("want the line\n%s\nin:\n%s", line, s)
	}
}
