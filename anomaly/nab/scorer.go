// Package nab scores anomaly detectors the way the Numenta Anomaly Benchmark
// does (Lavin & Ahmad, 2015; numenta/NAB nab/sweeper.py) and reads
// NAB-format corpora: a data folder of timestamp,value CSV files and a
// combined_windows.json of labelled anomaly windows.
//
// A detector gives a score in [0, 1] for every row. Each row is weighted by
// where it falls: inside a window by a scaled sigmoid of its position (early
// is worth ~A_TP, the window's end ~0); outside, as a false positive by a
// sigmoid of its distance past the previous window (~0 right after it, down
// to −A_FP). At a threshold, a window's worth is that of its earliest
// detection (or −A_FN without one), and every detection outside windows adds
// its (negative) weight. Rows of the probationary period (the first 15%, at
// most 750 rows) are ignored. One threshold, the best for the whole corpus,
// is chosen per profile, and the raw score is normalised between the null
// detector (0) and the perfect one (100).
package nab

import (
	"cmp"
	"fmt"
	"math"
	"slices"
)

// Profile is a NAB cost matrix.
type Profile struct {
	Name           string
	TP, FP, FN, TN float64
}

// The three NAB profiles, as in NAB's config/profiles.json.
var (
	Standard    = Profile{Name: "standard", TP: 1, FP: 0.11, FN: 1, TN: 1}
	RewardLowFP = Profile{Name: "reward_low_FP_rate", TP: 1, FP: 0.22, FN: 1, TN: 1}
	RewardLowFN = Profile{Name: "reward_low_FN_rate", TP: 1, FP: 0.11, FN: 2, TN: 1}
)

// Profiles lists the standard profiles in NAB's order.
var Profiles = []Profile{Standard, RewardLowFP, RewardLowFN}

// ProbationPercent is the share of each file a detector may learn from
// without being scored.
const ProbationPercent = 0.15

// ProbationLength is the number of leading rows of an n-row file that are not
// scored: min(floor(0.15·n), 0.15·5000).
func ProbationLength(n int) int {
	return int(math.Min(math.Floor(ProbationPercent*float64(n)), ProbationPercent*5000))
}

// ScaledSigmoid is NAB's weighting of a relative position y: 2/(1+e^(5y)) − 1,
// and −1 for y ≥ 3. y = −1 is a window's start (0.98661), 0 its end (0),
// positive values lie past a window.
func ScaledSigmoid(y float64) float64 {
	if y >= 3 {
		return -1
	}
	return 2/(1+math.Exp(5*y)) - 1
}

// Window is a labelled anomaly window as row indices, both inclusive.
type Window struct{ Start, End int }

// Point is one row prepared for threshold sweeping.
type Point struct {
	Score float64 // the detector's score
	// Weight is the row's contribution if it is a detection (NAB's
	// sweepScore): positive in a window, negative outside.
	Weight float64
	// Window identifies the row's window (unique across a corpus); empty
	// outside windows.
	Window string
	// Probation marks rows of the probationary period, never scored.
	Probation bool
}

// SweepScores weighs every row of one file (NAB's calcSweepScore). scores
// has one entry per row; windows are sorted, disjoint row ranges; name makes
// window ids unique across files.
func SweepScores(scores []float64, windows []Window, name string, p Profile) ([]Point, error) {
	n := len(scores)
	for i, w := range windows {
		if w.Start < 0 || w.End < w.Start || w.End >= n || i > 0 && w.Start <= windows[i-1].End {
			return nil, fmt.Errorf("nab: %s: window %d [%d, %d] is out of order or outside the %d rows", name, i, w.Start, w.End, n)
		}
	}
	maxTP := ScaledSigmoid(-1)
	probation := ProbationLength(n)
	points := make([]Point, n)
	wi := 0
	inWindow := false
	var cur Window
	prevEnd, prevWidth := -1, 0.0
	for i, s := range scores {
		if !inWindow && wi < len(windows) && windows[wi].Start == i {
			cur, inWindow = windows[wi], true
			wi++
		}
		var weight float64
		id := ""
		if inWindow {
			width := float64(cur.End - cur.Start + 1)
			pos := -float64(cur.End-i+1) / width
			weight = ScaledSigmoid(pos) * p.TP / maxTP
			id = fmt.Sprintf("%s|%d", name, cur.Start)
		} else {
			pos := 3.0
			if prevEnd >= 0 {
				// NAB divides by width−1; a one-row window would divide by
				// zero there, so it counts as far away.
				if prevWidth > 1 {
					pos = math.Abs(float64(prevEnd-i)) / (prevWidth - 1)
				}
			}
			weight = ScaledSigmoid(pos) * p.FP
		}
		points[i] = Point{Score: s, Weight: weight, Window: id, Probation: i < probation}
		if inWindow && i == cur.End {
			prevEnd, prevWidth = i, float64(cur.End-cur.Start+1)
			inWindow = false
		}
	}
	return points, nil
}

// ThresholdScore is the raw score of detecting every row whose score is at
// least Threshold, with NAB's confusion counts (in rows).
type ThresholdScore struct {
	Threshold      float64
	Score          float64
	TP, TN, FP, FN int
}

// ScoreByThreshold sweeps the threshold from above every score down through
// each distinct score (NAB's calcScoreByThreshold); p supplies A_FN for the
// windows without a detection. The first entry, at threshold 1.1, detects
// nothing. points may span several files. Entries come in decreasing
// threshold order.
func ScoreByThreshold(points []Point, p Profile) []ThresholdScore {
	scorable := make([]Point, 0, len(points))
	for _, pt := range points {
		if !pt.Probation {
			scorable = append(scorable, pt)
		}
	}
	// Python's sorted(reverse=True) is stable, and so is this.
	slices.SortStableFunc(scorable, func(a, b Point) int { return cmp.Compare(b.Score, a.Score) })

	// Each window is worth −A_FN until detected, then the weight of its
	// best (earliest) detection; windowSum is the running total of those.
	worth := map[string]float64{}
	var tp, tn, fp, fn int
	for _, pt := range scorable {
		if pt.Window == "" {
			tn++
			continue
		}
		fn++
		worth[pt.Window] = -p.FN
	}
	windowSum := -p.FN * float64(len(worth))
	fpSum := 0.0

	var out []ThresholdScore
	threshold := 1.1
	for _, pt := range scorable {
		if pt.Score != threshold {
			out = append(out, ThresholdScore{Threshold: threshold, Score: windowSum + fpSum, TP: tp, TN: tn, FP: fp, FN: fn})
			threshold = pt.Score
		}
		if pt.Window == "" {
			fp++
			tn--
			fpSum += pt.Weight
			continue
		}
		tp++
		fn--
		if old := worth[pt.Window]; pt.Weight > old {
			worth[pt.Window] = pt.Weight
			windowSum += pt.Weight - old
		}
	}
	return append(out, ThresholdScore{Threshold: threshold, Score: windowSum + fpSum, TP: tp, TN: tn, FP: fp, FN: fn})
}

// At returns the entry of a sweep (as from ScoreByThreshold) that applies at
// threshold t: the one for the smallest swept threshold at or above t, which
// detects the same rows (NAB's scoreDataSet).
func At(sweep []ThresholdScore, t float64) ThresholdScore {
	var prev ThresholdScore
	for i, s := range sweep {
		if s.Threshold == t {
			return s
		}
		if s.Threshold < t {
			if i == 0 {
				return s
			}
			return prev
		}
		prev = s
	}
	return prev
}

// Best returns the entry with the highest score (the first of equals, so
// the highest such threshold).
func Best(sweep []ThresholdScore) ThresholdScore {
	best := sweep[0]
	for _, s := range sweep[1:] {
		if s.Score > best.Score {
			best = s
		}
	}
	return best
}
