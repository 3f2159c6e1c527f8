package anomaly

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
)

// TuneConfig says how FineTune updates a trained autoencoder. Zero fields
// take the default in their comment.
type TuneConfig struct {
	Steps        int     // Adam steps (default 20)
	BatchSize    int     // windows per step, drawn at random (default 32)
	LearningRate float64 // Adam's step size (default 0.001, a third of Train's)
	Seed         uint64  // draws the batches
}

func (c TuneConfig) withDefaults() TuneConfig {
	if c.Steps <= 0 {
		c.Steps = 20
	}
	if c.BatchSize <= 0 {
		c.BatchSize = 32
	}
	if c.LearningRate <= 0 {
		c.LearningRate = 0.001
	}
	return c
}

// TuneResult is the mean squared reconstruction error over the windows
// before and after the update.
type TuneResult struct{ Before, After float64 }

// ErrDiverged is returned when an update leaves a weight or the loss
// non-finite: such a model must never be swapped in.
var ErrDiverged = errors.New("fine-tune diverged")

// FineTune continues training a copy of a on windows (normalised, of its
// window length) with a few mini-batch Adam steps, as Train does (same
// loss, same gradients, same optimiser, fresh moments), and returns the
// copy; a is not changed. It is what a device runs on a stream's own recent
// windows. A non-finite window is refused; an update that leaves any
// weight or the loss non-finite returns ErrDiverged.
func FineTune(a *Autoencoder, windows [][]float32, cfg TuneConfig) (*Autoencoder, TuneResult, error) {
	cfg = cfg.withDefaults()
	if err := a.Validate(); err != nil {
		return nil, TuneResult{}, fmt.Errorf("fine-tune: %w", err)
	}
	if len(windows) == 0 {
		return nil, TuneResult{}, errors.New("fine-tune: no windows")
	}
	for i, w := range windows {
		if len(w) != a.Window {
			return nil, TuneResult{}, fmt.Errorf("fine-tune: window %d has %d values, the model takes %d", i, len(w), a.Window)
		}
		for _, v := range w {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				return nil, TuneResult{}, fmt.Errorf("fine-tune: window %d holds %v", i, v)
			}
		}
	}
	n := newNet(a)
	res := TuneResult{Before: n.loss(windows, windows)}
	rng := rand.New(rand.NewPCG(cfg.Seed, 0x7e57))
	batch := make([][]float32, min(cfg.BatchSize, len(windows)))
	for step := 1; step <= cfg.Steps; step++ {
		for i := range batch {
			batch[i] = windows[rng.IntN(len(windows))]
		}
		n.gradients(batch, batch)
		n.adamStep(step, cfg.LearningRate)
	}
	res.After = n.loss(windows, windows)
	out := n.autoencoder()
	if !finite(res.After) || !out.finite() {
		return nil, res, fmt.Errorf("fine-tune: loss %v after %d steps: %w", res.After, cfg.Steps, ErrDiverged)
	}
	return out, res, nil
}

// net is an autoencoder under training (float64 layers with Adam state)
// and its per-sample activations and deltas.
type net struct {
	width  int
	layers []*dense
	acts   [][]float64
	deltas [][]float64
}

// newNet starts training from a's weights.
func newNet(a *Autoencoder) *net {
	layers := make([]*dense, len(a.Layers))
	for li, src := range a.Layers {
		l := newDense(src.In, src.Out, src.Relu)
		for i, v := range src.W {
			l.w[i] = float64(v)
		}
		for i, v := range src.B {
			l.b[i] = float64(v)
		}
		layers[li] = l
	}
	return netOf(a.Window, layers)
}

// netOf puts layers (input width first) under training.
func netOf(width int, layers []*dense) *net {
	n := &net{width: width, layers: layers}
	n.acts = append(n.acts, make([]float64, width))
	n.deltas = append(n.deltas, make([]float64, width))
	for _, l := range layers {
		n.acts = append(n.acts, make([]float64, l.out))
		n.deltas = append(n.deltas, make([]float64, l.out))
	}
	return n
}

// newDense is a zeroed layer with its gradient and Adam state.
func newDense(in, out int, relu bool) *dense {
	k := in * out
	return &dense{in: in, out: out, relu: relu,
		w: make([]float64, k), gw: make([]float64, k), mw: make([]float64, k), vw: make([]float64, k),
		b: make([]float64, out), gb: make([]float64, out), mb: make([]float64, out), vb: make([]float64, out)}
}

func (n *net) forward(x []float32) {
	for i, v := range x {
		n.acts[0][i] = float64(v)
	}
	for li, l := range n.layers {
		in, out := n.acts[li], n.acts[li+1]
		for o := range l.out {
			s := l.b[o]
			for i, w := range l.w[o*l.in : (o+1)*l.in] {
				s += w * in[i]
			}
			if l.relu && s < 0 {
				s = 0
			}
			out[o] = s
		}
	}
}

// loss is the mean squared error of the reconstructions of xs against ys
// (ys is xs for an autoencoder, a teacher's outputs for distillation).
func (n *net) loss(xs, ys [][]float32) float64 {
	var s float64
	for k, x := range xs {
		n.forward(x)
		y := n.acts[len(n.acts)-1]
		for i, v := range ys[k] {
			d := y[i] - float64(v)
			s += d * d
		}
	}
	return s / float64(len(xs)*n.width)
}

// gradients sets every layer's gw and gb to the gradient of the batch's
// mean squared error (inputs xs, targets ys).
func (n *net) gradients(xs, ys [][]float32) {
	for _, l := range n.layers {
		clear(l.gw)
		clear(l.gb)
	}
	last := len(n.acts) - 1
	for k, x := range xs {
		n.forward(x)
		for i, v := range ys[k] {
			// d(mean squared error)/dy, averaged over the batch.
			n.deltas[last][i] = 2 * (n.acts[last][i] - float64(v)) / float64(n.width*len(xs))
		}
		for li := len(n.layers) - 1; li >= 0; li-- {
			l := n.layers[li]
			in, d, prev := n.acts[li], n.deltas[li+1], n.deltas[li]
			clear(prev)
			for o := range l.out {
				if l.relu && n.acts[li+1][o] <= 0 {
					continue
				}
				g := d[o]
				l.gb[o] += g
				row := l.w[o*l.in : (o+1)*l.in]
				grow := l.gw[o*l.in : (o+1)*l.in]
				for i := range row {
					grow[i] += g * in[i]
					prev[i] += g * row[i]
				}
			}
		}
	}
}

// adamStep applies the step'th Adam update (counting from 1) of every layer.
func (n *net) adamStep(step int, lr float64) {
	const beta1, beta2 = 0.9, 0.999
	c1 := 1 - math.Pow(beta1, float64(step))
	c2 := 1 - math.Pow(beta2, float64(step))
	for _, l := range n.layers {
		adam(l.w, l.gw, l.mw, l.vw, lr, c1, c2)
		adam(l.b, l.gb, l.mb, l.vb, lr, c1, c2)
	}
}

func (n *net) autoencoder() *Autoencoder {
	a := &Autoencoder{Window: n.width}
	for _, l := range n.layers {
		out := Layer{In: l.in, Out: l.out, Relu: l.relu, W: make([]float32, len(l.w)), B: make([]float32, len(l.b))}
		for i, v := range l.w {
			out.W[i] = float32(v)
		}
		for i, v := range l.b {
			out.B[i] = float32(v)
		}
		a.Layers = append(a.Layers, out)
	}
	return a
}

// finite reports whether every weight and bias is a finite float32.
func (a *Autoencoder) finite() bool {
	for _, l := range a.Layers {
		for _, v := range l.W {
			if !finite(float64(v)) {
				return false
			}
		}
		for _, v := range l.B {
			if !finite(float64(v)) {
				return false
			}
		}
	}
	return true
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }
