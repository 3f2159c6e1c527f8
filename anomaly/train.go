package anomaly

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
)

// TrainConfig says how to train an autoencoder. The zero value of a field
// takes the default given in its comment.
type TrainConfig struct {
	// Hidden are the widths of the hidden layers (default [16, 4, 16]).
	// The middle one is the bottleneck and is linear; the others use ReLU.
	Hidden []int
	// Epochs is the number of passes over the data (default 60).
	Epochs int
	// BatchSize is the minibatch size (default 32).
	BatchSize int
	// LearningRate is Adam's step size (default 0.003).
	LearningRate float64
	// Seed makes initialisation and shuffling deterministic.
	Seed uint64
	// MaxSamples caps the training set: beyond it, windows are subsampled
	// evenly (default 20000), which bounds training time on a small box.
	MaxSamples int
	// Progress, if set, is called after each epoch with how many are done
	// out of how many.
	Progress func(done, total int)
}

func (c TrainConfig) withDefaults() TrainConfig {
	if len(c.Hidden) == 0 {
		c.Hidden = []int{16, 4, 16}
	}
	if c.Epochs <= 0 {
		c.Epochs = 60
	}
	if c.BatchSize <= 0 {
		c.BatchSize = 32
	}
	if c.LearningRate <= 0 {
		c.LearningRate = 0.003
	}
	if c.MaxSamples <= 0 {
		c.MaxSamples = 20000
	}
	return c
}

// TrainResult reports how training went.
type TrainResult struct {
	// Loss is the mean squared error against the targets (the windows
	// themselves, or a teacher's reconstructions, see Distill) over the
	// training set after each epoch; Initial is the loss before the first.
	Loss    []float64
	Initial float64
	Samples int
}

// dense is a layer under training, in float64, with Adam's moments.
type dense struct {
	in, out        int
	relu           bool
	w, b           []float64
	gw, gb         []float64
	mw, vw, mb, vb []float64
}

// Train fits an autoencoder to windows, each of the same length, with Adam on
// the mean squared reconstruction error. The windows should be normalised
// (see Normalizer) and come from normal operation.
func Train(windows [][]float32, cfg TrainConfig) (*Autoencoder, TrainResult, error) {
	return fit(windows, windows, cfg)
}

// Distill trains a student autoencoder (cfg.Hidden) to give the teacher's
// reconstructions of windows rather than the windows themselves: knowledge
// distillation. The student learns what the teacher keeps and what it
// smooths away, so its reconstruction error, the anomaly score's input,
// follows the teacher's. The teacher runs in Go (float64 accumulation);
// the loss reported is the mean squared difference from its outputs.
func Distill(teacher *Autoencoder, windows [][]float32, cfg TrainConfig) (*Autoencoder, TrainResult, error) {
	if err := teacher.Validate(); err != nil {
		return nil, TrainResult{}, fmt.Errorf("distill: teacher: %w", err)
	}
	if err := checkWindows(windows); err != nil {
		return nil, TrainResult{}, fmt.Errorf("distill: %w", err)
	}
	if len(windows[0]) != teacher.Window {
		return nil, TrainResult{}, fmt.Errorf("distill: windows of %d values, the teacher takes %d", len(windows[0]), teacher.Window)
	}
	windows = subsample(windows, cfg.withDefaults().MaxSamples)
	targets := make([][]float32, len(windows))
	for i, w := range windows {
		targets[i] = teacher.Forward(w, nil)
	}
	return fit(windows, targets, cfg)
}

// checkWindows refuses an empty set, windows of differing lengths and
// non-finite values.
func checkWindows(windows [][]float32) error {
	if len(windows) == 0 {
		return errors.New("no windows")
	}
	width := len(windows[0])
	if width == 0 {
		return errors.New("empty windows")
	}
	for i, w := range windows {
		if len(w) != width {
			return fmt.Errorf("window %d has %d values, the first has %d", i, len(w), width)
		}
		for _, v := range w {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				return fmt.Errorf("window %d holds %v", i, v)
			}
		}
	}
	return nil
}

// subsample keeps n windows evenly spread when there are more.
func subsample(windows [][]float32, n int) [][]float32 {
	if len(windows) <= n {
		return windows
	}
	sub := make([][]float32, n)
	for i := range sub {
		sub[i] = windows[i*len(windows)/n]
	}
	return sub
}

// fit trains an autoencoder to map each window to its target (the window
// itself, or a teacher's reconstruction of it).
func fit(windows, targets [][]float32, cfg TrainConfig) (*Autoencoder, TrainResult, error) {
	cfg = cfg.withDefaults()
	if err := checkWindows(windows); err != nil {
		return nil, TrainResult{}, fmt.Errorf("train: %w", err)
	}
	if len(targets) != len(windows) {
		return nil, TrainResult{}, fmt.Errorf("train: %d targets for %d windows", len(targets), len(windows))
	}
	width := len(windows[0])
	for i, t := range targets {
		if len(t) != width {
			return nil, TrainResult{}, fmt.Errorf("train: target %d has %d values, the windows %d", i, len(t), width)
		}
	}
	for _, h := range cfg.Hidden {
		if h <= 0 {
			return nil, TrainResult{}, fmt.Errorf("train: hidden widths %v must be positive", cfg.Hidden)
		}
	}
	windows, targets = subsample(windows, cfg.MaxSamples), subsample(targets, cfg.MaxSamples)

	rng := rand.New(rand.NewPCG(cfg.Seed, 0x5eed))
	widths := append(append([]int{width}, cfg.Hidden...), width)
	bottleneck := len(cfg.Hidden) / 2 // index of the linear latent layer
	layers := make([]*dense, len(widths)-1)
	for i := range layers {
		l := newDense(widths[i], widths[i+1], i < len(layers)-1 && i != bottleneck)
		scale := math.Sqrt(2 / float64(l.in)) // He initialisation
		if !l.relu {
			scale = math.Sqrt(1 / float64(l.in))
		}
		for j := range l.w {
			l.w[j] = rng.NormFloat64() * scale
		}
		layers[i] = l
	}
	n := netOf(width, layers)

	res := TrainResult{Initial: n.loss(windows, targets), Samples: len(windows)}
	order := make([]int, len(windows))
	for i := range order {
		order[i] = i
	}
	xs := make([][]float32, 0, cfg.BatchSize)
	ys := make([][]float32, 0, cfg.BatchSize)
	step := 0
	if cfg.Progress != nil {
		cfg.Progress(0, cfg.Epochs)
	}
	for range cfg.Epochs {
		rng.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
		for start := 0; start < len(order); start += cfg.BatchSize {
			xs, ys = xs[:0], ys[:0]
			for _, idx := range order[start:min(start+cfg.BatchSize, len(order))] {
				xs, ys = append(xs, windows[idx]), append(ys, targets[idx])
			}
			n.gradients(xs, ys)
			step++
			n.adamStep(step, cfg.LearningRate)
		}
		res.Loss = append(res.Loss, n.loss(windows, targets))
		if cfg.Progress != nil {
			cfg.Progress(len(res.Loss), cfg.Epochs)
		}
	}
	return n.autoencoder(), res, nil
}

// adam applies one bias-corrected Adam update to p with gradient g.
func adam(p, g, m, v []float64, lr, c1, c2 float64) {
	const beta1, beta2, eps = 0.9, 0.999, 1e-8
	for i := range p {
		m[i] = beta1*m[i] + (1-beta1)*g[i]
		v[i] = beta2*v[i] + (1-beta2)*g[i]*g[i]
		p[i] -= lr * (m[i] / c1) / (math.Sqrt(v[i]/c2) + eps)
	}
}
