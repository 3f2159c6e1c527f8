package anomaly

import (
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/edgeflow/edgeflow/models"
	"github.com/edgeflow/edgeflow/models/modeltest"
)

// sineWindows returns normalised windows of a noisy sine.
func sineWindows(n, w int, seed uint64) [][]float32 {
	r := rand.New(rand.NewPCG(seed, 1))
	vals := make([]float64, n+w)
	for i := range vals {
		vals[i] = 10 + 3*math.Sin(float64(i)*2*math.Pi/40) + 0.2*r.NormFloat64()
	}
	z := &Normalizer{}
	for _, v := range vals {
		z.Observe(v)
	}
	return Windows(vals, 0, len(vals), w, z)
}

func TestTrainReducesLoss(t *testing.T) {
	wins := sineWindows(800, 16, 1)
	var epochs []int
	ae, res, err := Train(wins, TrainConfig{Epochs: 30, Seed: 3,
		Progress: func(done, total int) {
			if total != 30 {
				t.Errorf("progress total %d, want 30", total)
			}
			epochs = append(epochs, done)
		}})
	if err != nil {
		t.Fatal(err)
	}
	if len(epochs) != 31 || epochs[0] != 0 || epochs[1] != 1 || epochs[30] != 30 {
		t.Errorf("progress reported epochs %v, want 0..30", epochs)
	}
	final := res.Loss[len(res.Loss)-1]
	if final > res.Initial/5 {
		t.Fatalf("loss went from %.4f to %.4f; training must cut it at least fivefold", res.Initial, final)
	}
	if got := ae.Widths(); len(got) != 5 || got[0] != 16 || got[2] != 4 || got[4] != 16 {
		t.Fatalf("widths %v, want 16-16-4-16-16", got)
	}
	// Same seed, same model.
	ae2, _, _ := Train(wins, TrainConfig{Epochs: 30, Seed: 3})
	if ae2.Layers[0].W[5] != ae.Layers[0].W[5] || ae2.Layers[3].B[2] != ae.Layers[3].B[2] {
		t.Fatal("training with the same seed gave different weights")
	}
	// A shape it never saw reconstructs worse than one it did.
	odd := make([]float32, 16)
	for i := range odd {
		odd[i] = float32(i%2)*6 - 3
	}
	if MSE(odd, ae.Forward(odd, nil)) < 5*MSE(wins[7], ae.Forward(wins[7], nil)) {
		t.Fatal("an unseen zig-zag reconstructs about as well as training data")
	}
}

func TestTrainRejectsBadInput(t *testing.T) {
	if _, _, err := Train(nil, TrainConfig{}); err == nil {
		t.Fatal("no windows: want an error")
	}
	if _, _, err := Train([][]float32{{1, 2}, {1}}, TrainConfig{}); err == nil {
		t.Fatal("ragged windows: want an error")
	}
	if _, _, err := Train([][]float32{{1, float32(math.NaN())}}, TrainConfig{}); err == nil {
		t.Fatal("NaN: want an error")
	}
}

func TestONNXExportMatchesGoForward(t *testing.T) {
	modeltest.RequireRuntime(t)
	wins := sineWindows(300, 16, 2)
	ae, _, err := Train(wins, TrainConfig{Epochs: 5, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	data, err := ae.MarshalONNX(map[string]string{"trained_on": "test"})
	if err != nil {
		t.Fatal(err)
	}
	if WindowOf(data) != 16 {
		t.Fatalf("window metadata %d", WindowOf(data))
	}
	path := filepath.Join(t.TempDir(), "ae.onnx")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	info, err := models.Inspect(path)
	if err != nil {
		t.Fatal(err)
	}
	if in := info.Inputs[0]; in.Name != InputName || !in.DynamicBatch() {
		t.Fatalf("input %v: want %q with a dynamic batch", in, InputName)
	}
	s, err := models.NewSession(data, models.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	batch := wins[:37]
	flat := make([]float32, 0, 37*16)
	for _, w := range batch {
		flat = append(flat, w...)
	}
	outs, err := s.Run([]models.Tensor{{Shape: []int64{37, 16}, Data: flat}})
	if err != nil {
		t.Fatal(err)
	}
	worst := 0.0
	for i, w := range batch {
		want := ae.Forward(w, nil)
		for j, v := range want {
			worst = max(worst, math.Abs(float64(v-outs[0].Data[i*16+j])))
		}
	}
	if worst > 1e-5 {
		t.Fatalf("ORT and Go differ by %g; want within 1e-5", worst)
	}
	back, err := ReadONNX(data)
	if err != nil {
		t.Fatal(err)
	}
	if MSE(back.Forward(wins[3], nil), ae.Forward(wins[3], nil)) != 0 {
		t.Fatal("ReadONNX does not give back the same model")
	}
	if _, err := ReadONNX([]byte("not a model")); err == nil {
		t.Fatal("garbage: want an error")
	}
}

func TestExportPairInt8StaysClose(t *testing.T) {
	modeltest.RequireRuntime(t)
	wins := sineWindows(600, 16, 4)
	ae, _, err := Train(wins, TrainConfig{Epochs: 20, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	_, q, err := ExportPair(ae, wins, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ReadONNX(q); err == nil {
		t.Fatal("the int8 model should not read as a float Gemm chain")
	}
	s, err := models.NewSession(q, models.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var errFP, errQ float64
	for _, w := range wins[:100] {
		out, err := s.Run([]models.Tensor{{Shape: []int64{1, 16}, Data: w}})
		if err != nil {
			t.Fatal(err)
		}
		errQ += MSE(w, out[0].Data)
		errFP += MSE(w, ae.Forward(w, nil))
	}
	if errQ > 2*errFP+0.01*100 {
		t.Fatalf("int8 reconstruction error %.4f vs fp32 %.4f", errQ/100, errFP/100)
	}
}

func TestNormalizerFlatSensorStaysFinite(t *testing.T) {
	z := &Normalizer{}
	for range 50 {
		z.Observe(20)
	}
	got := z.Apply(nil, []float32{20, 20.5, 1e9, float32(math.NaN())})
	if got[0] != 0 || got[1] <= 0 || got[2] != DefaultClip || got[3] != 0 {
		t.Fatalf("normalised %v", got)
	}
	z.Observe(1000) // frozen: ignored
	if z.Count() != 50 {
		t.Fatal("observed after freezing")
	}
}
