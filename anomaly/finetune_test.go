package anomaly

import (
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/edgeflow/edgeflow/models/modeltest"
)

// squareWindows returns normalised windows of a noisy square wave of
// period 6: a shape a model trained on slow sines reconstructs badly.
func squareWindows(n, w int, seed uint64) [][]float32 {
	r := rand.New(rand.NewPCG(seed, 2))
	vals := make([]float64, n+w)
	for i := range vals {
		vals[i] = 0.1 * r.NormFloat64()
		if i%6 < 3 {
			vals[i] += 2
		}
	}
	z := &Normalizer{}
	for _, v := range vals {
		z.Observe(v)
	}
	return Windows(vals, 0, len(vals), w, z)
}

func meanMSE(a *Autoencoder, wins [][]float32) float64 {
	var s float64
	for _, x := range wins {
		s += MSE(x, a.Forward(x, nil))
	}
	return s / float64(len(wins))
}

func TestFineTuneLearnsAShiftedStream(t *testing.T) {
	base, _, err := Train(sineWindows(800, 16, 1), TrainConfig{Epochs: 20, Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	orig := base.Layers[0].W[0]
	past, future := squareWindows(400, 16, 5), squareWindows(200, 16, 6)
	before := meanMSE(base, future)
	tuned := base
	for round := range 5 { // as a device does: a few steps at a time
		var res TuneResult
		tuned, res, err = FineTune(tuned, past, TuneConfig{Steps: 40, Seed: uint64(round)})
		if err != nil {
			t.Fatal(err)
		}
		if !(res.After < res.Before) {
			t.Errorf("round %d: training loss %.4f -> %.4f, want lower", round, res.Before, res.After)
		}
	}
	after := meanMSE(tuned, future)
	t.Logf("error on unseen windows of the new regime: %.4f before, %.4f after 200 steps", before, after)
	if after > 0.5*before {
		t.Errorf("error on the new regime %.4f -> %.4f, want at least halved", before, after)
	}
	if base.Layers[0].W[0] != orig {
		t.Error("FineTune changed the model it was given")
	}
	if slices.Equal(base.Layers[0].W, tuned.Layers[0].W) {
		t.Error("weights did not change")
	}
}

func TestFineTuneRefusesBadUpdates(t *testing.T) {
	base, _, err := Train(sineWindows(200, 16, 1), TrainConfig{Epochs: 2, Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	wins := sineWindows(100, 16, 2)
	bad := slices.Clone(wins)
	bad[3] = slices.Clone(bad[3])
	bad[3][5] = float32(math.NaN())
	if _, _, err := FineTune(base, bad, TuneConfig{}); err == nil {
		t.Error("a NaN window was accepted")
	}
	if _, _, err := FineTune(base, [][]float32{make([]float32, 8)}, TuneConfig{}); err == nil {
		t.Error("a window of the wrong length was accepted")
	}
	// Adam moves each weight by about the learning rate: 1e39 is beyond
	// float32, so the update leaves infinite weights.
	if m, _, err := FineTune(base, wins, TuneConfig{Steps: 2, LearningRate: 1e39}); !errors.Is(err, ErrDiverged) || m != nil {
		t.Errorf("an update to non-finite weights returned a model: %v, error %v; want ErrDiverged and none", m != nil, err)
	}
}

func TestReadModelDequantises(t *testing.T) {
	modeltest.RequireRuntime(t)
	wins := sineWindows(600, 16, 1)
	ae, _, err := Train(wins, TrainConfig{Epochs: 10, Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	fp32, q, err := ExportPair(ae, wins, nil)
	if err != nil {
		t.Fatal(err)
	}
	f, err := ReadModel(fp32)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(f.Layers[1].W, ae.Layers[1].W) {
		t.Error("fp32 weights read back differ")
	}
	d, err := ReadModel(q)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := d.Widths(), ae.Widths(); !slices.Equal(got, want) {
		t.Fatalf("dequantised widths %v, want %v", got, want)
	}
	for li, l := range d.Layers {
		if l.Relu != ae.Layers[li].Relu {
			t.Errorf("layer %d: relu %v, want %v", li, l.Relu, ae.Layers[li].Relu)
		}
		var maxW, maxErr float64
		for i, w := range ae.Layers[li].W {
			maxW = max(maxW, math.Abs(float64(w)))
			maxErr = max(maxErr, math.Abs(float64(l.W[i]-w)))
		}
		// Per-channel int8: at most half a step, maxW/127/2, off.
		if maxErr > maxW/127 {
			t.Errorf("layer %d: weights off by %.4g, more than a quantisation step of %.4g", li, maxErr, maxW/127)
		}
	}
	if e := math.Abs(meanMSE(d, wins) - meanMSE(ae, wins)); e > 0.02 {
		t.Errorf("dequantised model's error differs by %.4f", e)
	}
	if _, err := ReadModel([]byte("junk")); err == nil {
		t.Error("junk read as a model")
	}
}
