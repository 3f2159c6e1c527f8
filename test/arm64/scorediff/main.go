// Command scorediff compares two files of per-window anomaly scores written
// by test/arm64/scores.yaml (JSON Lines envelopes from the file sink), one
// from the x86-64 build and one from the arm64 build run on the same model
// and data, and fails when they differ by more than the tolerances:
//
//	go run ./test/arm64/scorediff [-tol 0.01] [-error-tol 0.05] x86.jsonl arm64.jsonl
//
// Windows are matched by sensor (key) and time (and order, where a series
// repeats a timestamp). Both files must hold the
// same windows. Scores may differ by at most -tol; the reconstruction
// error by at most -error-tol relative to the x86-64 value; an alert may
// differ only where a score is within -tol of the alert threshold.
package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math"
	"os"
)

type window struct {
	Key        string `json:"key"`
	SourceTime string `json:"source_time"`
	Fields     struct {
		Alert      bool    `json:"alert"`
		Ready      bool    `json:"ready"`
		Error      float64 `json:"error"`
		Likelihood float64 `json:"likelihood"`
		Score      float64 `json:"score"`
	} `json:"fields"`
}

func main() {
	tol := flag.Float64("tol", 0.01, "largest allowed difference of a score")
	errTol := flag.Float64("error-tol", 0.05, "largest allowed difference of a reconstruction error, relative")
	threshold := flag.Float64("threshold", 0.5, "the pipeline's alert threshold")
	flag.Parse()
	if flag.NArg() != 2 {
		fmt.Fprintln(os.Stderr, "usage: scorediff [flags] REFERENCE.jsonl OTHER.jsonl")
		os.Exit(2)
	}
	if err := run(flag.Arg(0), flag.Arg(1), *tol, *errTol, *threshold); err != nil {
		fmt.Fprintln(os.Stderr, "scorediff:", err)
		os.Exit(1)
	}
}

func run(refPath, otherPath string, tol, errTol, threshold float64) error {
	ref, err := load(refPath)
	if err != nil {
		return err
	}
	other, err := load(otherPath)
	if err != nil {
		return err
	}
	if len(ref) == 0 {
		return fmt.Errorf("%s: no windows", refPath)
	}
	if len(ref) != len(other) {
		return fmt.Errorf("%s has %d windows, %s %d", refPath, len(ref), otherPath, len(other))
	}
	var maxScore, maxErr float64
	var worst string
	alertsRef, alertsOther, flips, badFlips := 0, 0, 0, 0
	for id, a := range ref {
		b, ok := other[id]
		if !ok {
			return fmt.Errorf("window %s is in %s only", id, refPath)
		}
		if a.Fields.Ready != b.Fields.Ready {
			return fmt.Errorf("window %s: ready %v vs %v", id, a.Fields.Ready, b.Fields.Ready)
		}
		if d := math.Abs(a.Fields.Score - b.Fields.Score); d > maxScore {
			maxScore, worst = d, id
		}
		if d := math.Abs(a.Fields.Error-b.Fields.Error) / math.Max(math.Abs(a.Fields.Error), 1e-6); d > maxErr {
			maxErr = d
		}
		if a.Fields.Alert {
			alertsRef++
		}
		if b.Fields.Alert {
			alertsOther++
		}
		if a.Fields.Alert != b.Fields.Alert {
			flips++
			near := math.Abs(a.Fields.Score-threshold) <= tol || math.Abs(b.Fields.Score-threshold) <= tol
			if !near {
				badFlips++
			}
		}
	}
	fmt.Printf("scorediff: %d windows; max |score diff| %.3g (at %s), max relative error diff %.3g; alerts %d vs %d, %d differ (%d not explained by a score within %g of the threshold)\n",
		len(ref), maxScore, worst, maxErr, alertsRef, alertsOther, flips, badFlips, tol)
	var errs []error
	if maxScore > tol {
		errs = append(errs, fmt.Errorf("scores differ by %.3g > %g", maxScore, tol))
	}
	if maxErr > errTol {
		errs = append(errs, fmt.Errorf("reconstruction errors differ by %.3g > %g (relative)", maxErr, errTol))
	}
	if badFlips > 0 {
		errs = append(errs, fmt.Errorf("%d alerts differ away from the threshold", badFlips))
	}
	return errors.Join(errs...)
}

// load reads a file sink's envelopes, keyed by sensor and time.
func load(path string) (map[string]window, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	out := make(map[string]window)
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for line := 1; sc.Scan(); line++ {
		var w window
		if err := json.Unmarshal(sc.Bytes(), &w); err != nil {
			return nil, fmt.Errorf("%s:%d: %w", path, line, err)
		}
		// A series may repeat a timestamp: the n-th window of a sensor
		// at a time matches the n-th in the other file.
		id := w.Key + "@" + w.SourceTime
		for n := 2; ; n++ {
			if _, dup := out[id]; !dup {
				break
			}
			id = fmt.Sprintf("%s@%s#%d", w.Key, w.SourceTime, n)
		}
		out[id] = w
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return out, nil
}
