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

// Normalised returns the window of length w ending at each row in
// [from+w−1, to) of values, normalised as the anomaly stage normalises a
// sensor online: each window with the statistics of z at that point, after
// which its newest reading joins them (which moves them when z has a
// HalfLife).
func Normalised(values []float64, from, to, w int, z *Normalizer) [][]float32 {
	var out [][]float32
	raw := make([]float32, w)
	for end := from + w - 1; end < to; end++ {
		for i := range w {
			raw[i] = float32(values[end-w+1+i])
		}
		out = append(out, z.Apply(nil, raw))
		z.Observe(values[end])
	}
	return out
}

// SeriesScores runs the detector over one series as it would run online:
// the normaliser learns from the first warmup rows, then every window ending
// at row i is normalised (the normaliser following the series with
// halfLife, see Normalizer), reconstructed and its error scored, in order.
// It returns one Score per row (zero for rows before the first full window).
// model must take windows of length w. Reconstructions are computed in
// batches, which changes nothing: the model is stateless and the scorer
// sees the errors in row order.
func SeriesScores(values []float64, w, warmup, halfLife int, model Reconstructor, sc ScoreConfig) ([]Score, error) {
	if w <= 0 || warmup < 0 {
		return nil, fmt.Errorf("series: window %d and warm-up %d", w, warmup)
	}
	z := &Normalizer{HalfLife: halfLife}
	for _, v := range values[:min(warmup, len(values))] {
		z.Observe(v)
	}
	z.Freeze()
	return scoreFrom(values, 0, warmup, w, z, model, sc)
}

// StageScores runs the detector over one series exactly as the window (size
// w, step 1), anomaly (normalize) and anomaly (score) stages run it on one
// sensor's readings: values are held as float32; the normaliser learns from
// the readings of the first normWarmup windows (the first window brings all
// w of its readings, each later one its newest), which are dropped unscored;
// the normWarmup-th window is the first one normalised (clipped to ±clip)
// and scored, after which the normaliser follows the sensor with halfLife.
// It returns one Score per row, zero (not Ready) for rows whose window was
// not scored. Comparing it with a pipeline's output separates what the
// engine and brokers change (nothing, if they are faithful) from what the
// stage settings change relative to SeriesScores.
func StageScores(values []float64, w, normWarmup int, clip float64, halfLife int, model Reconstructor, sc ScoreConfig) ([]Score, error) {
	if w <= 0 || normWarmup <= 0 {
		return nil, fmt.Errorf("series: window %d and normalisation warm-up %d windows", w, normWarmup)
	}
	f32 := make([]float64, len(values))
	for i, v := range values {
		f32[i] = float64(float32(v))
	}
	z := &Normalizer{Clip: clip, HalfLife: halfLife}
	first := w - 1 + normWarmup - 1 // the row that ends the first scored window
	for i := 0; i < first && i < len(f32); i++ {
		z.Observe(f32[i])
	}
	if first >= len(values) {
		return make([]Score, len(values)), nil
	}
	// The stage observes the newest reading of the last warm-up window
	// before it freezes and normalises that window.
	z.Observe(f32[first])
	z.Freeze()
	return scoreFrom(f32, first-w+1, first+1, w, z, model, sc)
}

// scoreFrom scores every window of values from the one starting at row
// from, with z already learned; after a window is normalised its newest
// reading joins z if its row is at or after observe.
func scoreFrom(values []float64, from, observe, w int, z *Normalizer, model Reconstructor, sc ScoreConfig) ([]Score, error) {
	scores := make([]Score, len(values))
	scorer := NewScorer(sc)
	const batch = 512
	for start := from; start+w-1 < len(values); start += batch {
		to := min(len(values), start+w-1+batch)
		var wins [][]float32
		for end := start + w - 1; end < to; end++ {
			wins = append(wins, z.Apply(nil, float32s(values[end-w+1:end+1])))
			if end >= observe {
				z.Observe(values[end])
			}
		}
		recon, err := model.Reconstruct(wins)
		if err != nil {
			return nil, err
		}
		for k, x := range wins {
			row := start + w - 1 + k
			scores[row] = scorer.Update(MSE(x, recon[k]), values[row])
		}
	}
	return scores, nil
}

func float32s(v []float64) []float32 {
	out := make([]float32, len(v))
	for i, x := range v {
		out[i] = float32(x)
	}
	return out
}
