// Package compare runs two models (typically a float model and its
// compressed version) on the same samples and measures what the
// compression cost and gained: file size, latency, output error and task
// agreement. A Task says what the outputs are for and how to judge that
// two models agree on it; this package has the model-agnostic ones
// (Classify, None), and the tasks of a domain live with it (detection in
// vision/eval, anomaly scores in anomaly/eval), as do the loaders that
// turn that domain's data into Samples. The package knows models, not
// tasks.
package compare

import (
	"fmt"
	"math"
	"os"
	"slices"
	"time"

	"github.com/edgeflow/edgeflow/models"
)

// A Task judges two models' outputs by what they are for (top-1 class,
// detections, anomaly scores), beyond their raw error.
type Task interface {
	// Name names the task in results: "classify", "detect", ...
	Name() string
	// Fits reports whether the task applies to a model with this
	// description, for Pick.
	Fits(info *models.Info) bool
	// NewVerdict starts judging one comparison.
	NewVerdict() Verdict
}

// A Verdict accumulates a task's judgement of a comparison, sample by
// sample.
type Verdict interface {
	// Add judges one sample: what models A and B were fed and what they
	// returned (B's outputs in A's order). Its error names the sample.
	Add(s Sample, a, b Run) error
	// Agreement is the task's score over the samples added: 1 when the
	// models agree fully.
	Agreement() float64
}

// Run is what a model was fed and what it returned for one sample.
type Run struct {
	In, Out []models.Tensor
}

// Pick returns the first of tasks that fits the model info describes, or
// None.
func Pick(info *models.Info, tasks ...Task) Task {
	for _, t := range tasks {
		if t.Fits(info) {
			return t
		}
	}
	return None
}

// None judges nothing: a comparison of size, speed and output error only.
var None Task = noTask{}

type noTask struct{}

func (noTask) Name() string           { return "none" }
func (noTask) Fits(*models.Info) bool { return true }
func (noTask) NewVerdict() Verdict    { return noVerdict{} }

type noVerdict struct{}

func (noVerdict) Add(Sample, Run, Run) error { return nil }
func (noVerdict) Agreement() float64         { return 0 }

// Classify judges classifiers: the share of samples whose top-1 class (the
// argmax of the first output) A and B agree on. It fits a model with one
// [N,C] output, C > 1.
var Classify Task = classifyTask{}

type classifyTask struct{}

func (classifyTask) Name() string { return "classify" }
func (classifyTask) Fits(info *models.Info) bool {
	return len(info.Outputs) == 1 && len(info.Outputs[0].Shape) == 2 && info.Outputs[0].Shape[1] > 1
}
func (classifyTask) NewVerdict() Verdict { return &top1{} }

type top1 struct{ same, samples int }

func (v *top1) Add(_ Sample, a, b Run) error {
	v.samples++
	if argmax(a.Out[0].Data) == argmax(b.Out[0].Data) {
		v.same++
	}
	return nil
}

func (v *top1) Agreement() float64 { return float64(v.same) / float64(max(v.samples, 1)) }

// Options tune a comparison.
type Options struct {
	// Task judges the outputs; nil is None.
	Task Task
	// Repeat runs every sample this many times for timing (default 1).
	Repeat int
	// Runtime tunes both sessions identically.
	Runtime models.Options
	// Progress, if set, is called after each sample with how many are
	// done out of how many.
	Progress func(done, total int)
}

// Side describes one model's measurements.
type Side struct {
	Path       string  `json:"path"`
	Size       int64   `json:"size_bytes"`
	LatencyP50 float64 `json:"latency_p50_ms"`
	Throughput float64 `json:"throughput_per_s"`
}

// Result is a comparison of model B against model A (the reference).
type Result struct {
	A, B    Side
	Samples int `json:"samples"`
	// SizeRatio is B's size over A's; Speedup is A's p50 latency over B's.
	SizeRatio float64 `json:"size_ratio"`
	Speedup   float64 `json:"speedup"`
	// RMSE and MaxAbs are over every output value of every sample;
	// RelRMSE is RMSE over the RMS of A's outputs.
	RMSE    float64 `json:"rmse"`
	MaxAbs  float64 `json:"max_abs"`
	RelRMSE float64 `json:"rel_rmse"`
	// Task is the name of the task that judged the outputs.
	Task string `json:"task"`
	// Agreement is the task's score (Verdict.Agreement).
	Agreement float64 `json:"agreement"`
	// Verdict is the task's whole judgement, for its details (a
	// detection verdict's matched boxes, say).
	Verdict Verdict `json:"-"`
}

// Files compares the model files a and b on samples.
func Files(a, b string, samples []Sample, opts Options) (*Result, error) {
	if len(samples) == 0 {
		return nil, fmt.Errorf("compare: no data")
	}
	if opts.Repeat <= 0 {
		opts.Repeat = 1
	}
	if opts.Task == nil {
		opts.Task = None
	}
	sa, sizeA, err := open(a, opts.Runtime)
	if err != nil {
		return nil, err
	}
	defer sa.Close()
	sb, sizeB, err := open(b, opts.Runtime)
	if err != nil {
		return nil, err
	}
	defer sb.Close()
	res := &Result{A: Side{Path: a, Size: sizeA}, B: Side{Path: b, Size: sizeB}, Samples: len(samples)}
	res.SizeRatio = float64(sizeB) / float64(sizeA)
	if na, nb := len(sa.Info().Outputs), len(sb.Info().Outputs); na != nb {
		return nil, fmt.Errorf("compare: model A has %d outputs, B %d", na, nb)
	}
	res.Task = opts.Task.Name()
	verdict := opts.Task.NewVerdict()

	var latA, latB []float64
	var sqErr, sqRef, maxAbs float64
	var count int64
	if opts.Progress != nil {
		opts.Progress(0, len(samples))
	}
	for i, s := range samples {
		inA, err := sa.Info().FitInputs(s.Inputs)
		if err != nil {
			return nil, fmt.Errorf("sample %s: %w", s.Name, err)
		}
		inB, err := sb.Info().FitInputs(s.Inputs)
		if err != nil {
			return nil, fmt.Errorf("sample %s: %w", s.Name, err)
		}
		if i == 0 { // warm up both sessions (allocations, thread pools)
			if _, err := sa.Run(inA); err != nil {
				return nil, fmt.Errorf("model A: %w", err)
			}
			if _, err := sb.Run(inB); err != nil {
				return nil, fmt.Errorf("model B: %w", err)
			}
		}
		var outA, outB []models.Tensor
		// Interleave A and B so that load from other processes hits both.
		for range opts.Repeat {
			t0 := time.Now()
			if outA, err = sa.Run(inA); err != nil {
				return nil, fmt.Errorf("model A, sample %s: %w", s.Name, err)
			}
			t1 := time.Now()
			if outB, err = sb.Run(inB); err != nil {
				return nil, fmt.Errorf("model B, sample %s: %w", s.Name, err)
			}
			latA = append(latA, t1.Sub(t0).Seconds())
			latB = append(latB, time.Since(t1).Seconds())
		}
		outB, err = alignOutputs(sa.Info(), sb.Info(), outB)
		if err != nil {
			return nil, err
		}
		for k := range outA {
			if len(outA[k].Data) != len(outB[k].Data) {
				return nil, fmt.Errorf("output %q: A has %d values, B %d", sa.Info().Outputs[k].Name, len(outA[k].Data), len(outB[k].Data))
			}
			for j, va := range outA[k].Data {
				d := float64(va) - float64(outB[k].Data[j])
				sqErr += d * d
				sqRef += float64(va) * float64(va)
				maxAbs = max(maxAbs, math.Abs(d))
			}
			count += int64(len(outA[k].Data))
		}
		if err := verdict.Add(s, Run{inA, outA}, Run{inB, outB}); err != nil {
			return nil, err
		}
		if opts.Progress != nil {
			opts.Progress(i+1, len(samples))
		}
	}
	res.A.LatencyP50, res.B.LatencyP50 = 1000*median(latA), 1000*median(latB)
	res.A.Throughput, res.B.Throughput = 1000/res.A.LatencyP50, 1000/res.B.LatencyP50
	res.Speedup = res.A.LatencyP50 / res.B.LatencyP50
	res.RMSE = math.Sqrt(sqErr / float64(max(count, 1)))
	res.MaxAbs = maxAbs
	if sqRef > 0 {
		res.RelRMSE = math.Sqrt(sqErr / sqRef)
	}
	res.Agreement, res.Verdict = verdict.Agreement(), verdict
	return res, nil
}

func open(path string, opts models.Options) (*models.Session, int64, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, 0, fmt.Errorf("compare: %w", err)
	}
	s, err := models.NewSession(data, opts)
	if err != nil {
		return nil, 0, fmt.Errorf("compare: model %s: %w", path, err)
	}
	return s, int64(len(data)), nil
}

// alignOutputs orders B's outputs like A's, by name when the names agree.
func alignOutputs(a, b *models.Info, outB []models.Tensor) ([]models.Tensor, error) {
	out := make([]models.Tensor, len(a.Outputs))
	for i, o := range a.Outputs {
		j := slices.Index(b.OutputNames(), o.Name)
		if j < 0 {
			j = i // renamed outputs: fall back to position
		}
		out[i] = outB[j]
	}
	return out, nil
}

func argmax(v []float32) int {
	best := 0
	for i, x := range v {
		if x > v[best] {
			best = i
		}
	}
	return best
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}

// Spearman is the rank correlation of two equally long series (ties get
// their average rank); 1 when both are constant.
func Spearman(a, b []float64) float64 {
	if len(a) != len(b) || len(a) < 2 {
		return math.NaN()
	}
	ra, rb := ranks(a), ranks(b)
	var ma, mb float64
	for i := range ra {
		ma += ra[i]
		mb += rb[i]
	}
	ma /= float64(len(ra))
	mb /= float64(len(rb))
	var sab, saa, sbb float64
	for i := range ra {
		da, db := ra[i]-ma, rb[i]-mb
		sab += da * db
		saa += da * da
		sbb += db * db
	}
	if saa == 0 || sbb == 0 {
		if saa == sbb {
			return 1
		}
		return 0
	}
	return sab / math.Sqrt(saa*sbb)
}

func ranks(v []float64) []float64 {
	idx := make([]int, len(v))
	for i := range idx {
		idx[i] = i
	}
	slices.SortStableFunc(idx, func(x, y int) int {
		switch {
		case v[x] < v[y]:
			return -1
		case v[x] > v[y]:
			return 1
		}
		return 0
	})
	r := make([]float64, len(v))
	for i := 0; i < len(idx); {
		j := i
		for j+1 < len(idx) && v[idx[j+1]] == v[idx[i]] {
			j++
		}
		avg := float64(i+j)/2 + 1
		for k := i; k <= j; k++ {
			r[idx[k]] = avg
		}
		i = j + 1
	}
	return r
}
