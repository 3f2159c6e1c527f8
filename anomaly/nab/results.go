package nab

import (
	"bufio"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/edgeflow/edgeflow/anomaly"
)

// ResultsHeader is the header of a results file: NAB's own columns
// (timestamp, value, anomaly_score, label: 1 inside a labelled window), then
// alert, 1 on the rows where the alerter fires at the threshold it was given.
var ResultsHeader = []string{"timestamp", "value", "anomaly_score", "label", "alert"}

// ResultsPath is where NAB keeps a detector's results for a corpus file:
// dir/<detector>/<category>/<detector>_<file>.csv, for file "<category>/<file>".
func ResultsPath(dir, detector, name string) string {
	cat, base := path.Split(name)
	return filepath.Join(dir, detector, filepath.FromSlash(strings.TrimSuffix(cat, "/")), detector+"_"+base)
}

// WriteResults writes a detector's per-row outputs for f as a NAB results
// file (see ResultsHeader and ResultsPath) and returns its path:
// anomaly_score is each row's log score (0 on rows not scored), alert the
// alerter of ac replayed over the scores, as AlertSeries does.
func WriteResults(dir, detector string, f *File, scores []anomaly.Score, ac anomaly.AlertConfig) (string, error) {
	if len(scores) != len(f.Values) {
		return "", fmt.Errorf("nab: %s: %d scores for %d rows", f.Name, len(scores), len(f.Values))
	}
	p := ResultsPath(dir, detector, f.Name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return "", fmt.Errorf("nab: results: %w", err)
	}
	fh, err := os.Create(p)
	if err != nil {
		return "", fmt.Errorf("nab: results: %w", err)
	}
	bw := bufio.NewWriter(fh)
	w := csv.NewWriter(bw)
	_ = w.Write(ResultsHeader)
	label := make([]bool, len(f.Values))
	for _, win := range f.Windows {
		for r := win.Start; r <= win.End; r++ {
			label[r] = true
		}
	}
	a := anomaly.NewAlerter(ac)
	rec := make([]string, len(ResultsHeader))
	for r, s := range scores {
		rec[0] = f.Times[r].Format(timeLayout)
		rec[1] = strconv.FormatFloat(f.Values[r], 'g', -1, 64)
		rec[2] = strconv.FormatFloat(s.Score, 'g', -1, 64)
		rec[3], rec[4] = "0", "0"
		if label[r] {
			rec[3] = "1"
		}
		if s.Ready && a.Update(s.Score) {
			rec[4] = "1"
		}
		_ = w.Write(rec)
	}
	w.Flush()
	err = errors.Join(w.Error(), bw.Flush(), fh.Close())
	if err != nil {
		return "", fmt.Errorf("nab: results %s: %w", p, err)
	}
	return p, nil
}

// ResultRows are the columns of a results file.
type ResultRows struct {
	Times                        []time.Time
	Values, Scores, Label, Alert []float64
}

// ReadResults reads a results file written by WriteResults (or by NAB, whose
// files lack the alert column: Alert is then nil).
func ReadResults(p string) (*ResultRows, error) {
	fh, err := os.Open(p)
	if err != nil {
		return nil, fmt.Errorf("nab: %w", err)
	}
	defer fh.Close()
	r := csv.NewReader(bufio.NewReader(fh))
	head, err := r.Read()
	if err != nil {
		return nil, fmt.Errorf("nab: %s: header: %w", p, err)
	}
	col := map[string]int{}
	for i, h := range head {
		col[strings.TrimSpace(h)] = i
	}
	for _, need := range ResultsHeader[:4] {
		if _, ok := col[need]; !ok {
			return nil, fmt.Errorf("nab: %s: no %s column", p, need)
		}
	}
	_, hasAlert := col["alert"]
	out := &ResultRows{}
	for line := 2; ; line++ {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("nab: %s: %w", p, err)
		}
		t, err := time.Parse(timeLayout, rec[col["timestamp"]])
		if err != nil {
			return nil, fmt.Errorf("nab: %s:%d: timestamp: %w", p, line, err)
		}
		out.Times = append(out.Times, t)
		for _, c := range []struct {
			name string
			dst  *[]float64
		}{{"value", &out.Values}, {"anomaly_score", &out.Scores}, {"label", &out.Label}, {"alert", &out.Alert}} {
			if c.name == "alert" && !hasAlert {
				continue
			}
			v, err := strconv.ParseFloat(rec[col[c.name]], 64)
			if err != nil {
				return nil, fmt.Errorf("nab: %s:%d: %s: %w", p, line, c.name, err)
			}
			*c.dst = append(*c.dst, v)
		}
	}
	return out, nil
}
