package nab

import (
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// File is one series of a corpus with its labelled windows.
type File struct {
	// Name is the path under data/, as NAB's labels name it:
	// "realKnownCause/nyc_taxi.csv".
	Name    string
	Times   []time.Time
	Values  []float64
	Windows []Window
}

// Layouts NAB uses for data timestamps and window limits.
const (
	timeLayout   = "2006-01-02 15:04:05"
	windowLayout = "2006-01-02 15:04:05.000000"
)

// LoadCorpus reads a NAB-format corpus: dir/data/<category>/<file>.csv and
// dir/labels/combined_windows.json. Only files named in the labels are read
// (a file with no windows is listed with an empty list), in sorted order.
func LoadCorpus(dir string) ([]*File, error) {
	raw, err := os.ReadFile(filepath.Join(dir, "labels", "combined_windows.json"))
	if err != nil {
		return nil, fmt.Errorf("nab: labels: %w", err)
	}
	var labels map[string][][2]string
	if err := json.Unmarshal(raw, &labels); err != nil {
		return nil, fmt.Errorf("nab: labels: %w", err)
	}
	names := make([]string, 0, len(labels))
	for name := range labels {
		names = append(names, name)
	}
	sort.Strings(names)
	files := make([]*File, 0, len(names))
	for _, name := range names {
		f, err := ReadFile(filepath.Join(dir, "data", filepath.FromSlash(name)))
		if err != nil {
			return nil, err
		}
		f.Name = name
		if f.Windows, err = windowRows(f.Times, labels[name]); err != nil {
			return nil, fmt.Errorf("nab: %s: %w", name, err)
		}
		files = append(files, f)
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("nab: %s lists no files", filepath.Join(dir, "labels", "combined_windows.json"))
	}
	return files, nil
}

// ReadFile reads a timestamp,value CSV with a header row.
func ReadFile(path string) (*File, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("nab: %w", err)
	}
	defer fh.Close()
	r := csv.NewReader(fh)
	r.FieldsPerRecord = -1
	f := &File{Name: filepath.Base(path)}
	for line := 1; ; line++ {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("nab: %s: %w", path, err)
		}
		if line == 1 && len(rec) > 0 && strings.EqualFold(strings.TrimSpace(rec[0]), "timestamp") {
			continue
		}
		if len(rec) < 2 {
			return nil, fmt.Errorf("nab: %s:%d: want timestamp,value", path, line)
		}
		t, err := time.Parse(timeLayout, strings.TrimSpace(rec[0]))
		if err != nil {
			return nil, fmt.Errorf("nab: %s:%d: timestamp: %w", path, line, err)
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(rec[1]), 64)
		if err != nil {
			return nil, fmt.Errorf("nab: %s:%d: value: %w", path, line, err)
		}
		f.Times = append(f.Times, t)
		f.Values = append(f.Values, v)
	}
	if len(f.Times) == 0 {
		return nil, fmt.Errorf("nab: %s has no rows", path)
	}
	return f, nil
}

// windowRows turns window limits into row ranges. NAB's labels put limits on
// row timestamps; a limit between rows takes the first row at or after the
// start and the last row at or before the end.
func windowRows(times []time.Time, limits [][2]string) ([]Window, error) {
	var out []Window
	for _, l := range limits {
		start, err := time.Parse(windowLayout, l[0])
		if err != nil {
			return nil, fmt.Errorf("window start: %w", err)
		}
		end, err := time.Parse(windowLayout, l[1])
		if err != nil {
			return nil, fmt.Errorf("window end: %w", err)
		}
		s, _ := slices.BinarySearchFunc(times, start, func(a, b time.Time) int { return a.Compare(b) })
		e, found := slices.BinarySearchFunc(times, end, func(a, b time.Time) int { return a.Compare(b) })
		if !found {
			e--
		}
		if s >= len(times) || e < s {
			continue // the window holds no row
		}
		out = append(out, Window{Start: s, End: e})
	}
	return out, nil
}

// FileScore is one file's part of a corpus result.
type FileScore struct {
	Name       string
	Score      float64
	TP, FP, FN int // rows
	// Detected counts the windows with a detection.
	Detected, Windows int
}

// Result is a detector's score on a corpus under one profile.
type Result struct {
	Profile   Profile
	Threshold float64 // the best threshold for the whole corpus
	Raw       float64 // raw score at that threshold
	Null      float64 // raw score of a detector that never fires
	Perfect   float64 // raw score of one that fires on every window row
	// Normalized is 100·(Raw − Null)/(Perfect − Null).
	Normalized float64
	Files      []FileScore
}

// Score scores a detector on a corpus: scores[i] holds one score per row of
// files[i].
func Score(files []*File, scores [][]float64, p Profile) (Result, error) {
	if len(scores) != len(files) {
		return Result{}, fmt.Errorf("nab: %d score series for %d files", len(scores), len(files))
	}
	raw, threshold, perFile, err := optimise(files, scores, p)
	if err != nil {
		return Result{}, err
	}
	null := make([][]float64, len(files))
	perfect := make([][]float64, len(files))
	for i, f := range files {
		null[i] = make([]float64, len(f.Values))
		perfect[i] = make([]float64, len(f.Values))
		for _, w := range f.Windows {
			for r := w.Start; r <= w.End; r++ {
				perfect[i][r] = 1
			}
		}
	}
	nullRaw, _, _, err := optimise(files, null, p)
	if err != nil {
		return Result{}, err
	}
	perfectRaw, _, _, err := optimise(files, perfect, p)
	if err != nil {
		return Result{}, err
	}
	res := Result{Profile: p, Threshold: threshold, Raw: raw, Null: nullRaw, Perfect: perfectRaw, Files: perFile}
	if perfectRaw != nullRaw {
		res.Normalized = 100 * (raw - nullRaw) / (perfectRaw - nullRaw)
	}
	return res, nil
}

// optimise finds the threshold that maximises the corpus score and returns
// it with the per-file scores at that threshold.
func optimise(files []*File, scores [][]float64, p Profile) (float64, float64, []FileScore, error) {
	var all []Point
	perFile := make([][]Point, len(files))
	for i, f := range files {
		if len(scores[i]) != len(f.Values) {
			return 0, 0, nil, fmt.Errorf("nab: %s: %d scores for %d rows", f.Name, len(scores[i]), len(f.Values))
		}
		pts, err := SweepScores(scores[i], f.Windows, f.Name, p)
		if err != nil {
			return 0, 0, nil, err
		}
		perFile[i] = pts
		all = append(all, pts...)
	}
	best := Best(ScoreByThreshold(all, p))
	out := make([]FileScore, len(files))
	for i, f := range files {
		s := At(ScoreByThreshold(perFile[i], p), best.Threshold)
		fs := FileScore{Name: f.Name, Score: s.Score, TP: s.TP, FP: s.FP, FN: s.FN}
		seen := map[string]bool{}
		for _, pt := range perFile[i] {
			if pt.Probation || pt.Window == "" {
				continue
			}
			if _, ok := seen[pt.Window]; !ok {
				seen[pt.Window] = false
				fs.Windows++
			}
			if pt.Score >= best.Threshold && !seen[pt.Window] {
				seen[pt.Window] = true
				fs.Detected++
			}
		}
		out[i] = fs
	}
	return best.Score, best.Threshold, out, nil
}
