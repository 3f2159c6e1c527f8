package anomaly

import (
	"errors"
	"fmt"
)

// Layer is one dense layer, y = act(W·x + b), with W stored row-major as
// [Out][In] (the layout of an ONNX Gemm with transB=1).
type Layer struct {
	In, Out int
	W       []float32 // Out*In
	B       []float32 // Out
	Relu    bool      // ReLU activation; false is linear
}

// Autoencoder is a multilayer perceptron that reconstructs its input: a
// window of Window normalised readings goes through a bottleneck and comes
// back. Its reconstruction error is large for shapes unlike those it was
// trained on.
type Autoencoder struct {
	Window int
	Layers []Layer
}

// Validate checks that the layers chain from Window back to Window and that
// every weight slice has its size, so that a model read from a file cannot
// index out of range.
func (a *Autoencoder) Validate() error {
	if a == nil || a.Window <= 0 || len(a.Layers) == 0 {
		return errors.New("autoencoder: empty model")
	}
	in := a.Window
	for i, l := range a.Layers {
		if l.In != in || l.Out <= 0 || len(l.W) != l.In*l.Out || len(l.B) != l.Out {
			return fmt.Errorf("autoencoder: layer %d is %dx%d with %d weights and %d biases, after a layer of width %d",
				i, l.Out, l.In, len(l.W), len(l.B), in)
		}
		in = l.Out
	}
	if in != a.Window {
		return fmt.Errorf("autoencoder: output width %d differs from the window %d", in, a.Window)
	}
	return nil
}

// Widths lists the layer widths from input to output: [W, 16, 4, 16, W].
func (a *Autoencoder) Widths() []int {
	w := []int{a.Window}
	for _, l := range a.Layers {
		w = append(w, l.Out)
	}
	return w
}

// Params is the number of weights and biases.
func (a *Autoencoder) Params() int {
	n := 0
	for _, l := range a.Layers {
		n += len(l.W) + len(l.B)
	}
	return n
}

// Forward reconstructs one window into dst (allocated when nil or short)
// and returns it. It accumulates in float64 and rounds each layer's output
// to float32, as a float32 runtime does to within rounding.
func (a *Autoencoder) Forward(x, dst []float32) []float32 {
	cur := make([]float64, len(x))
	for i, v := range x {
		cur[i] = float64(v)
	}
	for _, l := range a.Layers {
		next := make([]float64, l.Out)
		for o := range l.Out {
			s := float64(l.B[o])
			row := l.W[o*l.In : (o+1)*l.In]
			for i, w := range row {
				s += float64(w) * cur[i]
			}
			if l.Relu && s < 0 {
				s = 0
			}
			next[o] = float64(float32(s))
		}
		cur = next
	}
	if cap(dst) < len(cur) {
		dst = make([]float32, len(cur))
	}
	dst = dst[:len(cur)]
	for i, v := range cur {
		dst[i] = float32(v)
	}
	return dst
}

// MSE is the mean squared difference between a window and its
// reconstruction: the raw anomaly score. Lengths must match; a shorter
// reconstruction counts only its overlap.
func MSE(x, y []float32) float64 {
	n := min(len(x), len(y))
	if n == 0 {
		return 0
	}
	var s float64
	for i := range n {
		d := float64(x[i]) - float64(y[i])
		s += d * d
	}
	return s / float64(n)
}
