package nab

import (
	"fmt"
	"runtime"
	"sync"

	"github.com/edgeflow/edgeflow/anomaly"
)

// Model scopes for EvalConfig.Mode.
const (
	// PerSensor trains one autoencoder per file on its probationary rows.
	PerSensor = "per-sensor"
	// Pretrained trains one autoencoder on synthetic series
	// (anomaly.SyntheticWindows) and runs it on every file: no file's data,
	// scored or not, reaches the model, as NAB's rules ask of a detector
	// that is not trained per file.
	Pretrained = "pretrained"
)

// PretrainWindows is how many synthetic windows the pretrained model is
// trained on.
const PretrainWindows = 20000

// EvalConfig says how to run the autoencoder detector over a corpus.
type EvalConfig struct {
	Window int    // window length (default 16)
	Mode   string // PerSensor or Pretrained (default Pretrained)
	Train  anomaly.TrainConfig
	// Score configures the scorer; its alert Threshold is replaced by each
	// of Thresholds in turn, and the best per profile is kept, as NAB
	// optimises a detector's threshold.
	Score      anomaly.ScoreConfig
	Thresholds []float64
	// HalfLife is the normaliser's half-life after its warm-up (see
	// anomaly.Normalizer; 0 freezes it).
	HalfLife int
	// Model, when set, is used for every file instead of training (Window
	// must match it): a model file, fp32 or int8, run by ONNX Runtime.
	Model anomaly.Reconstructor
	// Runtime, when set, wraps each trained autoencoder (to run it with ONNX
	// Runtime rather than the Go forward pass); close is called when done.
	Runtime func(*anomaly.Autoencoder) (r anomaly.Reconstructor, close func(), err error)
	// Workers bounds how many files are processed at once (default: GOMAXPROCS).
	Workers int
	// NormWarmup, when positive, normalises as the anomaly stage does
	// (anomaly.StageScores): from the readings of each file's first
	// NormWarmup windows, which are not scored. Zero normalises by the
	// file's probationary rows and scores every window (SeriesScores).
	NormWarmup int
	// Clip bounds the normalised values with NormWarmup (0: the default).
	Clip float64
	// Progress, if set, is called (one call at a time) as the work goes:
	// phase "scoring files" after each file, then "sweeping thresholds"
	// after each profile and threshold, with how much is done out of how
	// much.
	Progress func(phase string, done, total int)
}

// DefaultThresholds is the alert-threshold grid swept on the log score.
func DefaultThresholds() []float64 {
	var t []float64
	for v := 0.10; v < 0.951; v += 0.025 {
		t = append(t, v)
	}
	return t
}

// EvalResult holds a detector's NAB scores.
type EvalResult struct {
	// Alerts are the scores of the alert stream (1 where the alerter
	// fires, 0 elsewhere) at the best alert threshold of each profile.
	Alerts []Result
	// AlertThreshold is the best alert threshold per profile.
	AlertThreshold []float64
	// Fixed are the scores of the alert stream at the configured threshold
	// (cfg.Score.Alert.Threshold) per profile, when one is configured: what
	// a deployment with that threshold would score.
	Fixed []Result
	// Raw are the scores of the log-scaled likelihood itself, without
	// the alerter (no rest period after an alert), threshold optimised by NAB's sweep.
	Raw []Result
	// Scores are the per-row outputs of the detector, per file.
	Scores [][]anomaly.Score
	// Loss is the mean final training loss (normalised units).
	Loss float64
}

// Evaluate runs the detector over every file online and scores it under
// NAB's three profiles.
func Evaluate(files []*File, cfg EvalConfig) (*EvalResult, error) {
	if cfg.Window <= 0 {
		cfg.Window = 16
	}
	if cfg.Mode == "" {
		cfg.Mode = Pretrained
	}
	if cfg.Mode != Pretrained && cfg.Mode != PerSensor {
		return nil, fmt.Errorf("nab: mode %q: want %s or %s", cfg.Mode, Pretrained, PerSensor)
	}
	if len(cfg.Thresholds) == 0 {
		cfg.Thresholds = DefaultThresholds()
	}
	if cfg.Workers <= 0 {
		cfg.Workers = runtime.GOMAXPROCS(0)
	}
	res := &EvalResult{Scores: make([][]anomaly.Score, len(files))}

	// The models a file is run with: one shared, or one per file.
	var shared anomaly.Reconstructor = cfg.Model
	var losses []float64
	if shared == nil && cfg.Mode == Pretrained {
		ae, tr, err := anomaly.Train(anomaly.SyntheticWindows(PretrainWindows, cfg.Window, cfg.Train.Seed), cfg.Train)
		if err != nil {
			return nil, fmt.Errorf("nab: train the pretrained model: %w", err)
		}
		losses = append(losses, tr.Loss[len(tr.Loss)-1])
		r, done, err := wrap(ae, cfg.Runtime)
		if err != nil {
			return nil, err
		}
		defer done()
		shared = r
	}

	var mu sync.Mutex // guards losses and scored
	scored := 0
	cfg.progress("scoring files", 0, len(files))
	errs := make([]error, len(files))
	sem := make(chan struct{}, cfg.Workers)
	var wg sync.WaitGroup
	for i, f := range files {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			model := shared
			if model == nil {
				z := warmupNormalizer(f.Values)
				wins := anomaly.Windows(f.Values, 0, ProbationLength(len(f.Values)), cfg.Window, z)
				ae, tr, err := anomaly.Train(wins, cfg.Train)
				if err != nil {
					errs[i] = fmt.Errorf("nab: %s: train: %w", f.Name, err)
					return
				}
				mu.Lock()
				losses = append(losses, tr.Loss[len(tr.Loss)-1])
				mu.Unlock()
				r, done, err := wrap(ae, cfg.Runtime)
				if err != nil {
					errs[i] = err
					return
				}
				defer done()
				model = r
			}
			var s []anomaly.Score
			var err error
			if cfg.NormWarmup > 0 {
				s, err = anomaly.StageScores(f.Values, cfg.Window, cfg.NormWarmup, cfg.Clip, cfg.HalfLife, model, cfg.Score)
			} else {
				s, err = anomaly.SeriesScores(f.Values, cfg.Window, ProbationLength(len(f.Values)), cfg.HalfLife, model, cfg.Score)
			}
			if err != nil {
				errs[i] = fmt.Errorf("nab: %s: %w", f.Name, err)
				return
			}
			res.Scores[i] = s
			mu.Lock()
			scored++
			cfg.progress("scoring files", scored, len(files))
			mu.Unlock()
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	for _, l := range losses {
		res.Loss += l / float64(len(losses))
	}

	out, err := Summarize(files, res.Scores, cfg)
	if err != nil {
		return nil, err
	}
	out.Loss = res.Loss
	return out, nil
}

// Summarize scores a detector's per-row outputs (scores[i] for files[i],
// one per row; rows that were not scored are zero) under NAB's three
// profiles: the log score itself (Raw) and the alert stream of cfg.Score.Alert at
// each of cfg.Thresholds (Alerts, the best per profile; none means
// DefaultThresholds), and at cfg.Score.Alert.Threshold itself if set
// (Fixed). Only cfg.Score.Alert and cfg.Thresholds are used.
func Summarize(files []*File, scores [][]anomaly.Score, cfg EvalConfig) (*EvalResult, error) {
	if len(scores) != len(files) {
		return nil, fmt.Errorf("nab: %d score series for %d files", len(scores), len(files))
	}
	thresholds := cfg.Thresholds
	if len(thresholds) == 0 {
		thresholds = DefaultThresholds()
	}
	res := &EvalResult{Scores: scores}
	raw := make([][]float64, len(files))
	for i, s := range scores {
		raw[i] = make([]float64, len(s))
		for r, sc := range s {
			raw[i][r] = sc.Score
		}
	}
	sweep, swept := len(Profiles)*len(thresholds), 0
	cfg.progress("sweeping thresholds", 0, sweep)
	for _, p := range Profiles {
		r, err := Score(files, raw, p)
		if err != nil {
			return nil, err
		}
		res.Raw = append(res.Raw, r)

		var best Result
		bestT := 0.0
		for k, t := range thresholds {
			a := cfg.Score.Alert
			a.Threshold = t
			r, err := Score(files, AlertSeries(scores, a), p)
			if err != nil {
				return nil, err
			}
			if k == 0 || r.Normalized > best.Normalized {
				best, bestT = r, t
			}
			swept++
			cfg.progress("sweeping thresholds", swept, sweep)
		}
		res.Alerts = append(res.Alerts, best)
		res.AlertThreshold = append(res.AlertThreshold, bestT)
		if t := cfg.Score.Alert.Threshold; t > 0 {
			r, err := Score(files, AlertSeries(scores, cfg.Score.Alert), p)
			if err != nil {
				return nil, err
			}
			res.Fixed = append(res.Fixed, r)
		}
	}
	return res, nil
}

// AlertSeries replays the alerter over recorded scores: 1 on rows that
// raise an alert, 0 elsewhere.
func AlertSeries(scores [][]anomaly.Score, ac anomaly.AlertConfig) [][]float64 {
	out := make([][]float64, len(scores))
	for i, s := range scores {
		out[i] = make([]float64, len(s))
		a := anomaly.NewAlerter(ac)
		for r, sc := range s {
			if sc.Ready && a.Update(sc.Score) {
				out[i][r] = 1
			}
		}
	}
	return out
}

func warmupNormalizer(values []float64) *anomaly.Normalizer {
	z := &anomaly.Normalizer{}
	for _, v := range values[:ProbationLength(len(values))] {
		z.Observe(v)
	}
	z.Freeze()
	return z
}

func wrap(ae *anomaly.Autoencoder, rt func(*anomaly.Autoencoder) (anomaly.Reconstructor, func(), error)) (anomaly.Reconstructor, func(), error) {
	if rt == nil {
		return ae, func() {}, nil
	}
	r, done, err := rt(ae)
	if err != nil {
		return nil, nil, fmt.Errorf("nab: load the model: %w", err)
	}
	return r, done, nil
}

func (c *EvalConfig) progress(phase string, done, total int) {
	if c.Progress != nil {
		c.Progress(phase, done, total)
	}
}
