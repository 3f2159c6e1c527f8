package eval

import (
	"fmt"
	"io"
	"path"
	"slices"
	"text/tabwriter"

	"github.com/edgeflow/edgeflow/anomaly"
	"github.com/edgeflow/edgeflow/anomaly/nab"
)

// Category is one NAB category's part of a leave-one-category-out check
// under one profile.
type Category struct {
	Name           string
	Files, Windows int
	// Own is the category's best threshold on its own, OwnScore its
	// normalised score there (0 for a category without windows, whose
	// best is never to fire).
	Own, OwnScore float64
	// Others is the threshold the other categories choose; Held the
	// category's normalised score at it, HeldFP its false-positive alerts.
	Others, Held float64
	HeldFP       int
	// Shipped is the category's normalised score at the shipped threshold.
	Shipped float64
	// raw, null, perfect at Others, summed by LOCO.
	raw, null, perfect float64
}

// LOCO is a leave-one-category-out check of a detector under one profile:
// each category of the corpus (the folder of its files) is scored at the
// alert threshold the other categories choose, and the held-out raw scores
// are summed and normalised as NAB normalises a corpus. A detector whose
// settings fit the corpus rather than the problem scores lower here than
// in-sample (one threshold chosen on every file).
type LOCO struct {
	Profile nab.Profile
	// InSample is the normalised score at the best threshold over all
	// files (Threshold); HeldOut the leave-one-category-out one; Shipped
	// the score at the shipped threshold.
	InSample, HeldOut, Shipped float64
	Threshold                  float64
	Categories                 []Category
}

// LeaveOneCategoryOut runs the check for every profile on a detector's
// per-row outputs (scores[i] for files[i]), replaying the alerter of ac at
// each of thresholds (none: nab.DefaultThresholds) and at ac's own
// threshold (the shipped one; zero is anomaly.DefaultThreshold).
func LeaveOneCategoryOut(files []*nab.File, scores [][]anomaly.Score, ac anomaly.AlertConfig, thresholds []float64) ([]LOCO, error) {
	if len(scores) != len(files) {
		return nil, fmt.Errorf("loco: %d score series for %d files", len(scores), len(files))
	}
	if len(thresholds) == 0 {
		thresholds = nab.DefaultThresholds()
	}
	shipped := ac.Threshold
	if shipped <= 0 {
		shipped = anomaly.DefaultThreshold
	}
	ts := append(slices.Clone(thresholds), shipped)
	var cats []string
	catOf := make([]int, len(files))
	for i, f := range files {
		c := path.Dir(f.Name)
		k := slices.Index(cats, c)
		if k < 0 {
			k, cats = len(cats), append(cats, c)
		}
		catOf[i] = k
	}
	// alerts[t][i]: file i's alert column at threshold ts[t].
	alerts := make([][][]float64, len(ts))
	for t, th := range ts {
		a := ac
		a.Threshold = th
		alerts[t] = nab.AlertSeries(scores, a)
	}
	null, perfect := make([][]float64, len(files)), make([][]float64, len(files))
	for i, f := range files {
		null[i], perfect[i] = make([]float64, len(f.Values)), make([]float64, len(f.Values))
		for _, w := range f.Windows {
			for r := w.Start; r <= w.End; r++ {
				perfect[i][r] = 1
			}
		}
	}
	var out []LOCO
	for _, p := range nab.Profiles {
		// raw[t][i], fp[t][i]: file i's raw score and false positives
		// with the alerts at ts[t]; nullRaw, perfectRaw per file.
		raw, fp := make([][]float64, len(ts)), make([][]int, len(ts))
		for t := range ts {
			raw[t], fp[t] = make([]float64, len(files)), make([]int, len(files))
			for i, f := range files {
				s, err := fixedScore(f, alerts[t][i], p)
				if err != nil {
					return nil, err
				}
				raw[t][i], fp[t][i] = s.Score, countAlerts(f, alerts[t][i])
			}
		}
		nullRaw, perfectRaw := make([]float64, len(files)), make([]float64, len(files))
		for i, f := range files {
			n, err := fixedScore(f, null[i], p)
			if err != nil {
				return nil, err
			}
			pf, err := fixedScore(f, perfect[i], p)
			if err != nil {
				return nil, err
			}
			nullRaw[i], perfectRaw[i] = n.Score, pf.Score
		}
		sum := func(v []float64, keep func(int) bool) float64 {
			s := 0.0
			for i, x := range v {
				if keep(i) {
					s += x
				}
			}
			return s
		}
		norm := func(t int, keep func(int) bool) (r, n, pf, score float64) {
			r, n, pf = sum(raw[t], keep), sum(nullRaw, keep), sum(perfectRaw, keep)
			if pf != n {
				score = 100 * (r - n) / (pf - n)
			}
			return r, n, pf, score
		}
		// best returns the index of the best of the swept thresholds on
		// the files kept (the highest of equals, as NAB's sweep).
		best := func(keep func(int) bool) int {
			b := 0
			for t := range thresholds {
				if sum(raw[t], keep) > sum(raw[b], keep) {
					b = t
				}
			}
			return b
		}
		all := func(int) bool { return true }
		l := LOCO{Profile: p}
		bt := best(all)
		l.Threshold = ts[bt]
		_, _, _, l.InSample = norm(bt, all)
		_, _, _, l.Shipped = norm(len(ts)-1, all)
		var hr, hn, hp float64
		for c, name := range cats {
			in := func(i int) bool { return catOf[i] == c }
			others := func(i int) bool { return catOf[i] != c }
			cat := Category{Name: name}
			for i, f := range files {
				if in(i) {
					cat.Files++
					cat.Windows += len(f.Windows)
				}
			}
			own := best(in)
			cat.Own = ts[own]
			_, _, _, cat.OwnScore = norm(own, in)
			ot := best(others)
			cat.Others = ts[ot]
			cat.raw, cat.null, cat.perfect, cat.Held = norm(ot, in)
			for i := range files {
				if in(i) {
					cat.HeldFP += fp[ot][i]
				}
			}
			_, _, _, cat.Shipped = norm(len(ts)-1, in)
			hr, hn, hp = hr+cat.raw, hn+cat.null, hp+cat.perfect
			l.Categories = append(l.Categories, cat)
		}
		if hp != hn {
			l.HeldOut = 100 * (hr - hn) / (hp - hn)
		}
		out = append(out, l)
	}
	return out, nil
}

// fixedScore is a file's NAB score for an alert column (1 where an alert
// is raised): the rows at 1 are the detections.
func fixedScore(f *nab.File, alerts []float64, p nab.Profile) (nab.ThresholdScore, error) {
	pts, err := nab.SweepScores(alerts, f.Windows, f.Name, p)
	if err != nil {
		return nab.ThresholdScore{}, err
	}
	return nab.At(nab.ScoreByThreshold(pts, p), 0.5), nil
}

// countAlerts counts the alerts outside the file's windows and its
// probation: NAB's false positives.
func countAlerts(f *nab.File, alerts []float64) int {
	n, w := 0, 0
	for r := nab.ProbationLength(len(alerts)); r < len(alerts); r++ {
		for w < len(f.Windows) && f.Windows[w].End < r {
			w++
		}
		if alerts[r] > 0 && (w == len(f.Windows) || r < f.Windows[w].Start) {
			n++
		}
	}
	return n
}

// PrintLOCO prints the check, one table per profile.
func PrintLOCO(out io.Writer, ls []LOCO) error {
	for _, l := range ls {
		fmt.Fprintf(out, "leave one category out, %s: held out %.1f, in-sample %.1f (threshold %.3f), at the shipped threshold %.1f\n",
			l.Profile.Name, l.HeldOut, l.InSample, l.Threshold, l.Shipped)
		tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "category\tfiles\twindows\tat shipped\town best\tat own\tothers' best\theld out\tFP alerts held out\t")
		for _, c := range l.Categories {
			fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%.3f\t%s\t%.3f\t%s\t%d\t\n", c.Name, c.Files, c.Windows,
				catScore(c, c.Shipped), c.Own, catScore(c, c.OwnScore), c.Others, catScore(c, c.Held), c.HeldFP)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	return nil
}

// catScore prints a category's normalised score, "-" for one without
// windows (NAB's normalisation is undefined there; its false positives
// still count in the held-out sum).
func catScore(c Category, s float64) string {
	if c.Windows == 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f", s)
}
