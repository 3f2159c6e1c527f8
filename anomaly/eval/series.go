package eval

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	"github.com/edgeflow/edgeflow/anomaly"
	"github.com/edgeflow/edgeflow/anomaly/nab"
	"github.com/edgeflow/edgeflow/models/compare"
)

// SeriesPrefix marks a data path as time series to cut into windows:
// "nab:<glob>" matches NAB-format CSV files (timestamp,value).
const SeriesPrefix = "nab:"

// SeriesOptions say how LoadSeries cuts series into model inputs.
type SeriesOptions struct {
	// Window is the window length in values; Stride the values between
	// the starts of consecutive windows (default Window/4).
	Window, Stride int
	// Normalize is "zscore" (the default: each file by its warm-up
	// statistics, as the anomaly stage does) or "none".
	Normalize string
	// Limit caps the samples, spread evenly over all windows (0: all).
	Limit int
}

// CheckNormalize reports whether name is a normalisation LoadSeries knows.
func CheckNormalize(name string) error {
	if name != "" && name != "zscore" && name != "none" {
		return fmt.Errorf("data: unknown normalisation %q (want zscore or none)", name)
	}
	return nil
}

// LoadSeries reads the timestamp,value CSV files matching glob and cuts
// every series into windows of opts.Window values, opts.Stride apart,
// normalised as the anomaly detector does at run time: z-scores with the
// mean and standard deviation of the file's warm-up (NAB's probationary
// period, the first 15% up to 750 rows), clipped to ±10. Windows over the
// whole series (anomalies included) are taken, so that calibration sees
// the ranges the model meets online. Samples are spread evenly over all
// windows when opts.Limit caps them.
func LoadSeries(glob string, opts SeriesOptions) ([]compare.Sample, error) {
	if err := CheckNormalize(opts.Normalize); err != nil {
		return nil, err
	}
	if opts.Window <= 0 {
		return nil, fmt.Errorf("data: series %s need a window length (--window, or a model with a fixed input width)", glob)
	}
	stride := opts.Stride
	if stride <= 0 {
		stride = max(1, opts.Window/4)
	}
	files, err := filepath.Glob(glob)
	if err != nil {
		return nil, fmt.Errorf("data: %s: %w", glob, err)
	}
	slices.Sort(files)
	if len(files) == 0 {
		return nil, fmt.Errorf("data: no file matches %s", glob)
	}
	var out []compare.Sample
	for _, path := range files {
		f, err := nab.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("data: %w", err)
		}
		if len(f.Values) < opts.Window {
			continue
		}
		var wins [][]float32
		if opts.Normalize == "none" {
			wins = rawWindows(f.Values, opts.Window)
		} else {
			z := &anomaly.Normalizer{}
			for _, v := range f.Values[:max(2, nab.ProbationLength(len(f.Values)))] {
				z.Observe(v)
			}
			wins = anomaly.Windows(f.Values, 0, len(f.Values), opts.Window, z)
		}
		for i := 0; i < len(wins); i += stride {
			out = append(out, compare.VectorSample(fmt.Sprintf("%s@%d", filepath.Base(path), i+opts.Window-1), wins[i]))
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("data: no series in %s is %d values long", glob, opts.Window)
	}
	if opts.Limit > 0 && len(out) > opts.Limit {
		spread := make([]compare.Sample, opts.Limit)
		for i := range spread {
			spread[i] = out[i*len(out)/opts.Limit]
		}
		out = spread
	}
	return out, nil
}

func rawWindows(values []float64, w int) [][]float32 {
	var out [][]float32
	for end := w - 1; end < len(values); end++ {
		v := make([]float32, w)
		for i := range v {
			v[i] = float32(values[end-w+1+i])
		}
		out = append(out, v)
	}
	return out
}

// IsSeries reports whether a data path names series, and their glob: the
// nab: prefix, or a CSV file when a window length is given.
func IsSeries(path string, window int) (string, bool) {
	if rest, ok := strings.CutPrefix(path, SeriesPrefix); ok {
		return rest, true
	}
	if window > 0 && strings.HasSuffix(strings.ToLower(path), ".csv") {
		return path, true
	}
	return "", false
}
