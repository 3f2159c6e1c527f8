package anomaly

import "fmt"

// Reconstructor runs an autoencoder on a batch of normalised windows, each
// of the model's window length, and returns their reconstructions. The Go
// Autoencoder is one; an ONNX Runtime session wrapped by the caller is
// another.
type Reconstructor interface {
	Reconstruct(windows [][]float32) ([][]float32, error)
}

// Reconstruct implements Reconstructor with the Go forward pass.
func (a *Autoencoder) Reconstruct(windows [][]float32) ([][]float32, error) {
	out := make([][]float32, len(windows))
	for i, w := range windows {
		if len(w) != a.Window {
			return nil, fmt.Errorf("autoencoder: window %d has %d values, the model takes %d", i, len(w), a.Window)
		}
		out[i] = a.Forward(w, nil)
	}
	return out, nil
}

// Windows returns the sliding windows of length w over values[from:to]
// (each ending at a row in [from+w−1, to)), normalised by z.
func Windows(values []float64, from, to, w int, z *Normalizer) [][]float32 {
	var out [][]float32
	raw := make([]float32, w)
	for end := from + w - 1; end < to; end++ {
		for i := range w {
			raw[i] = float32(values[end-w+1+i])
		}
		out = append(out, z.Apply(nil, raw))
	}
	return out
}

// SeriesScores runs the detector over one series as it would run online:
// the normaliser learns from the first warmup rows, then every window ending
// at row i is reconstructed and its error scored, in order. It returns one
// Score per row (zero for rows before the first full window). model must
// take windows of length w. Reconstructions are computed in batches, which
// changes nothing: the model is stateless and the scorer sees the errors in
// row order.
func SeriesScores(values []float64, w, warmup int, model Reconstructor, lc LikelihoodConfig, ac AlertConfig) ([]Score, error) {
	if w <= 0 || warmup < 0 {
		return nil, fmt.Errorf("series: window %d and warm-up %d", w, warmup)
	}
	z := &Normalizer{}
	for _, v := range values[:min(warmup, len(values))] {
		z.Observe(v)
	}
	z.Freeze()
	scores := make([]Score, len(values))
	scorer := NewScorer(lc, ac)
	const batch = 512
	for from := 0; from+w-1 < len(values); from += batch {
		to := min(len(values), from+w-1+batch)
		wins := Windows(values, from, to, w, z)
		recon, err := model.Reconstruct(wins)
		if err != nil {
			return nil, err
		}
		for k, x := range wins {
			scores[from+w-1+k] = scorer.Update(MSE(x, recon[k]))
		}
	}
	return scores, nil
}

// StageScores runs the detector over one series exactly as the window (size
// w, step 1), anomaly (normalize) and anomaly (score) stages run it on one
// sensor's readings: values are held as float32; the normaliser learns from
// the readings of the first normWarmup windows (the first window brings all
// w of its readings, each later one its newest), which are dropped unscored;
// the normWarmup-th window is the first one normalised (clipped to ±clip)
// and scored. It returns one Score per row, zero (not Ready) for rows whose
// window was not scored. Comparing it with a pipeline's output separates
// what the engine and brokers change (nothing, if they are faithful) from
// what the stage settings change relative to SeriesScores.
func StageScores(values []float64, w, normWarmup int, clip float64, model Reconstructor, lc LikelihoodConfig, ac AlertConfig) ([]Score, error) {
	if w <= 0 || normWarmup <= 0 {
		return nil, fmt.Errorf("series: window %d and normalisation warm-up %d windows", w, normWarmup)
	}
	f32 := make([]float64, len(values))
	for i, v := range values {
		f32[i] = float64(float32(v))
	}
	z := &Normalizer{Clip: clip}
	first := w - 1 + normWarmup - 1 // the row that ends the first scored window
	for i := 0; i <= first && i < len(f32); i++ {
		z.Observe(f32[i])
	}
	z.Freeze()
	scores := make([]Score, len(values))
	if first >= len(values) {
		return scores, nil
	}
	scorer := NewScorer(lc, ac)
	const batch = 512
	for from := first - w + 1; from+w-1 < len(values); from += batch {
		to := min(len(values), from+w-1+batch)
		wins := Windows(f32, from, to, w, z)
		recon, err := model.Reconstruct(wins)
		if err != nil {
			return nil, err
		}
		for k, x := range wins {
			scores[from+w-1+k] = scorer.Update(MSE(x, recon[k]))
		}
	}
	return scores, nil
}
