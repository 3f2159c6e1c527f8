// Package compare runs two models (typically a float model and its
// compressed version) on the same data and measures what the compression
// cost and gained: file size, latency, output error and task agreement
// (top-1 for classifiers, matched detections for detectors, rank
// correlation for anomaly scores).
package compare

import (
	"fmt"
	"math"
	"os"
	"slices"
	"time"

	"github.com/edgeflow/edgeflow/models"
	"github.com/edgeflow/edgeflow/vision"
)

// Task is how model outputs are judged beyond raw error.
type Task string

const (
	// TaskAuto picks Detect when a Detector is set, Classify for a single
	// [1,C] output, Anomaly for a model whose output has its input's shape
	// (an autoencoder, scored by reconstruction error), else none.
	TaskAuto     Task = ""
	TaskNone     Task = "none"
	TaskClassify Task = "classify"
	TaskDetect   Task = "detect"
	TaskAnomaly  Task = "anomaly"
)

// Options tune a comparison.
type Options struct {
	Task Task
	// Detector names the decoder for TaskDetect: yolox, nanodet or
	// ultraface.
	Detector string
	// Threshold is the detection score threshold (default 0.3) and IoU the
	// NMS overlap (default 0.45).
	Threshold, IoU float32
	// Repeat runs every sample this many times for timing (default 1).
	Repeat int
	// Runtime tunes both sessions identically.
	Runtime models.Options
}

// Side describes one model's measurements.
type Side struct {
	Path       string  `json:"path"`
	Size       int64   `json:"size_bytes"`
	LatencyP50 float64 `json:"latency_p50_ms"`
	Throughput float64 `json:"throughput_per_s"`
	Detections int     `json:"detections,omitempty"`
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
	Task    Task    `json:"task"`
	// Agreement is the task score in [0,1]: top-1 agreement, matched
	// detections (2·matched / (detections of A + of B)), or the Spearman
	// rank correlation of anomaly scores.
	Agreement float64 `json:"agreement"`
	// Matched, Recall and Precision detail detection agreement: the share
	// of A's detections that B finds, and of B's that A has.
	Matched   int     `json:"matched,omitempty"`
	Recall    float64 `json:"recall,omitempty"`
	Precision float64 `json:"precision,omitempty"`
}

// Files compares the model files a and b on samples.
func Files(a, b string, samples []Sample, opts Options) (*Result, error) {
	if len(samples) == 0 {
		return nil, fmt.Errorf("compare: no data")
	}
	if opts.Repeat <= 0 {
		opts.Repeat = 1
	}
	if opts.Threshold == 0 {
		opts.Threshold = 0.3
	}
	if opts.IoU == 0 {
		opts.IoU = 0.45
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
	task, err := pickTask(opts, sa.Info(), sb.Info())
	if err != nil {
		return nil, err
	}
	res.Task = task

	var latA, latB []float64
	var sqErr, sqRef, maxAbs float64
	var count int64
	var scoresA, scoresB []float64
	var top1 int
	var detA, detB, matched int
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
		switch task {
		case TaskClassify:
			if argmax(outA[0].Data) == argmax(outB[0].Data) {
				top1++
			}
		case TaskAnomaly:
			scoresA = append(scoresA, reconError(s.Inputs[0].Data, outA[0].Data))
			scoresB = append(scoresB, reconError(s.Inputs[0].Data, outB[0].Data))
		case TaskDetect:
			da, err := detect(opts, outA, inA[0])
			if err != nil {
				return nil, fmt.Errorf("model A, sample %s: %w", s.Name, err)
			}
			db, err := detect(opts, outB, inB[0])
			if err != nil {
				return nil, fmt.Errorf("model B, sample %s: %w", s.Name, err)
			}
			detA, detB = detA+len(da), detB+len(db)
			matched += Match(da, db, 0.5)
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
	switch task {
	case TaskClassify:
		res.Agreement = float64(top1) / float64(len(samples))
	case TaskAnomaly:
		res.Agreement = Spearman(scoresA, scoresB)
	case TaskDetect:
		res.A.Detections, res.B.Detections, res.Matched = detA, detB, matched
		res.Agreement = 1
		if detA+detB > 0 {
			res.Agreement = 2 * float64(matched) / float64(detA+detB)
		}
		if detA > 0 {
			res.Recall = float64(matched) / float64(detA)
		}
		if detB > 0 {
			res.Precision = float64(matched) / float64(detB)
		}
	}
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

func pickTask(opts Options, a, b *models.Info) (Task, error) {
	if len(a.Outputs) != len(b.Outputs) {
		return "", fmt.Errorf("compare: model A has %d outputs, B %d", len(a.Outputs), len(b.Outputs))
	}
	switch opts.Task {
	case TaskDetect:
		if opts.Detector == "" {
			return "", fmt.Errorf("compare: detection needs a detector (yolox, nanodet or ultraface)")
		}
		return TaskDetect, nil
	case TaskClassify, TaskAnomaly, TaskNone:
		return opts.Task, nil
	case TaskAuto:
	default:
		return "", fmt.Errorf("compare: unknown task %q", opts.Task)
	}
	if opts.Detector != "" {
		return TaskDetect, nil
	}
	if len(a.Outputs) == 1 && len(a.Inputs) == 1 && slices.Equal(a.Outputs[0].Shape, a.Inputs[0].Shape) {
		return TaskAnomaly, nil
	}
	if len(a.Outputs) == 1 && len(a.Outputs[0].Shape) == 2 && a.Outputs[0].Shape[1] > 1 {
		return TaskClassify, nil
	}
	return TaskNone, nil
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

func detect(opts Options, outs []models.Tensor, in models.Tensor) ([]vision.Detection, error) {
	var dec vision.Decoder
	switch opts.Detector {
	case "yolox":
		dec = vision.YOLOX{}
	case "nanodet":
		dec = vision.NanoDet{}
	case "ultraface":
		dec = vision.UltraFace{}
	default:
		return nil, fmt.Errorf("unknown detector %q (want yolox, nanodet or ultraface)", opts.Detector)
	}
	if len(in.Shape) != 4 {
		return nil, fmt.Errorf("detector input has shape %v, want [1,3,H,W]", in.Shape)
	}
	w, h := int(in.Shape[3]), int(in.Shape[2])
	ts := make([]vision.Tensor, len(outs))
	for i, o := range outs {
		ts[i] = vision.Tensor{Shape: o.Shape, Data: o.Data}
	}
	// Boxes stay in model-input pixels: both models saw the same input.
	lb, err := vision.Stretch(w, h, w, h)
	if err != nil {
		return nil, err
	}
	p := vision.Postprocess{Decoder: dec, Threshold: opts.Threshold, IoU: opts.IoU}
	return p.Run(ts, lb)
}

// Match pairs detections of a and b greedily, best score first: a pair
// has the same class and an IoU of at least minIoU. It returns the number
// of pairs.
func Match(a, b []vision.Detection, minIoU float32) int {
	used := make([]bool, len(b))
	order := slices.Clone(a)
	slices.SortFunc(order, func(x, y vision.Detection) int { return cmpDesc(x.Score, y.Score) })
	n := 0
	for _, d := range order {
		best, bestIoU := -1, minIoU
		for j, e := range b {
			if used[j] || e.ClassID != d.ClassID {
				continue
			}
			if iou := vision.IoU(d.Box, e.Box); iou >= bestIoU {
				best, bestIoU = j, iou
			}
		}
		if best >= 0 {
			used[best] = true
			n++
		}
	}
	return n
}

func cmpDesc(a, b float32) int {
	switch {
	case a > b:
		return -1
	case a < b:
		return 1
	}
	return 0
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

func reconError(in, out []float32) float64 {
	if len(in) != len(out) {
		return 0
	}
	var s float64
	for i := range in {
		d := float64(in[i]) - float64(out[i])
		s += d * d
	}
	return s / float64(max(len(in), 1))
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
