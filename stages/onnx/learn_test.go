package onnx

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/edgeflow/edgeflow/anomaly"
	"github.com/edgeflow/edgeflow/internal/componenttest"
	"github.com/edgeflow/edgeflow/models"
	"github.com/edgeflow/edgeflow/models/modeltest"
	"github.com/edgeflow/edgeflow/pipeline"
)

// autoencoderFiles trains a small autoencoder on slow sines and writes it
// as fp32 and int8 models in dir.
func autoencoderFiles(t testing.TB, dir string) (fp32, int8Path string) {
	t.Helper()
	var wins [][]float32
	for i := range 600 {
		w := make([]float32, 16)
		for j := range w {
			w[j] = float32(math.Sin(float64(i+j) * 2 * math.Pi / 40))
		}
		wins = append(wins, w)
	}
	ae, _, err := anomaly.Train(wins, anomaly.TrainConfig{Epochs: 10, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	f, q, err := anomaly.ExportPair(ae, wins, nil)
	if err != nil {
		t.Fatal(err)
	}
	fp32, int8Path = filepath.Join(dir, "ae.onnx"), filepath.Join(dir, "ae.int8.onnx")
	if err := os.WriteFile(fp32, f, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(int8Path, q, 0o644); err != nil {
		t.Fatal(err)
	}
	return fp32, int8Path
}

// squareStream makes message i: key i%2's next window of a noisy square
// wave of period 6 (a shape the sine model reconstructs badly); with nanEvery
// > 0, every nanEvery-th window of a key holds a NaN.
func squareStream(nanEvery int) func(i int) *pipeline.Message {
	return func(i int) *pipeline.Message {
		r := rand.New(rand.NewPCG(uint64(i), 9))
		n := i / 2
		w := make([]float32, 16)
		for j := range w {
			w[j] = float32(0.1*r.NormFloat64()) - 1
			if (n+j)%6 < 3 {
				w[j] += 2
			}
		}
		if nanEvery > 0 && n%nanEvery == 0 {
			w[3] = float32(math.NaN())
		}
		m := pipeline.NewMessage(nil)
		m.Key = []string{"a", "b"}[i%2]
		m.Fields = map[string]any{"window_norm": w, "i": i}
		return m
	}
}

// TestLearnAdaptsWithoutGap runs two keys of a stream the model does not
// know through the stage with learning on, the int8 model and two workers:
// every message is scored exactly once (no gap while models are swapped),
// each key gets models of its own, the windows they score are reconstructed
// far better than those the shared model scored, windows with NaNs are
// scored but never learned from, and Close closes the keys' sessions.
func TestLearnAdaptsWithoutGap(t *testing.T) {
	modeltest.RequireRuntime(t)
	dir := t.TempDir()
	_, q := autoencoderFiles(t, dir)
	stage, err := build(t, dir, `{model: ae.int8.onnx, inputs: {window: window_norm}, outputs: {reconstruction: reconstruction},
  threads: 1, learn: {every: 300, steps: 40, keep: 300, budget: 1}}`)
	if err != nil {
		t.Fatal(err)
	}
	const n = 8000
	src := &feed{n: n, make: squareStream(50)}
	sink, dead := &componenttest.Collector{}, &componenttest.Collector{}
	// The stream arrives slowly enough for the trainer to keep up, however
	// busy the box: every 600 messages (300 windows of each key, one
	// interval) the feed waits until the updates due two intervals ago
	// are done.
	slow := &paced{feed: src, every: 600, wait: func(emitted int) {
		due := int64(2 * (emitted/600 - 2))
		for deadline := time.Now().Add(30 * time.Second); stage.learn.updates.Load() < due && time.Now().Before(deadline); {
			time.Sleep(5 * time.Millisecond)
		}
	}}
	run(t, slow, stage, pipeline.NodeOptions{BatchSize: 32, BatchDelay: time.Millisecond, Workers: 2}, sink, dead)

	msgs := sink.Messages()
	if len(msgs) != n || len(dead.Messages()) != 0 || src.acked.Load() != n {
		t.Fatalf("%d delivered, %d dead, %d acked; want %d, 0, %d", len(msgs), len(dead.Messages()), src.acked.Load(), n, n)
	}
	seen := make([]bool, n)
	type acc struct{ sum, count float64 }
	byVersion := map[string]map[int]*acc{"a": {}, "b": {}}
	for _, m := range msgs {
		i := m.Fields["i"].(int)
		if seen[i] {
			t.Fatalf("message %d delivered twice", i)
		}
		seen[i] = true
		v, ok := m.Fields["learn_version"].(int)
		if !ok {
			t.Fatalf("message %d has no learn_version", i)
		}
		e := anomaly.MSE(m.Fields["window_norm"].([]float32), m.Fields["reconstruction"].([]float32))
		if math.IsNaN(e) {
			continue
		}
		a := byVersion[m.Key][v]
		if a == nil {
			a = &acc{}
			byVersion[m.Key][v] = a
		}
		a.sum, a.count = a.sum+e, a.count+1
	}
	t.Logf("%d updates, %d rejected; %v training and swapping", stage.learn.updates.Load(),
		stage.learn.rejected.Load(), time.Duration(stage.learn.busy.Load()))
	if u := stage.learn.updates.Load(); u < 16 {
		t.Fatalf("%d updates (%d rejected), want at least 16", u, stage.learn.rejected.Load())
	}
	for key, vs := range byVersion {
		last := 0
		for v := range vs {
			last = max(last, v)
		}
		shared, learned := vs[0].sum/vs[0].count, vs[last].sum/vs[last].count
		t.Logf("key %s: error %.4f with the shared model, %.4f with its version %d", key, shared, learned, last)
		if last == 0 || learned > 0.5*shared {
			t.Errorf("key %s: error %.4f with the shared model, %.4f with version %d; want it at least halved", key, shared, learned, last)
		}
	}
	stage.learn.mu.Lock()
	var own []*models.Model
	for key, k := range stage.learn.keys {
		if k.weights == nil || !finiteWeights(k.weights) {
			t.Errorf("key %s: learned weights missing or not finite", key)
		}
		own = append(own, k.model)
	}
	stage.learn.mu.Unlock()
	if err := stage.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	for _, m := range own {
		if _, err := m.Run(nil); !errors.Is(err, models.ErrClosed) {
			t.Errorf("a key's model still runs after Close: %v", err)
		}
	}
	_ = q
}

// TestLearnRefusesAModelItCannotTrain: learning needs an autoencoder; a
// classifier fails its messages with the reason, as a model that does not
// load does.
func TestLearnRefusesAModelItCannotTrain(t *testing.T) {
	modeltest.RequireRuntime(t)
	dir := t.TempDir()
	mlp := &modeltest.MLP{In: 16, Hidden: 8, Out: 4, Seed: 1}
	mlp.Write(t, dir, "mlp.onnx")
	stage, err := build(t, dir, "{model: mlp.onnx, inputs: {x: window}, learn: {every: 10}}")
	if err != nil {
		t.Fatal(err)
	}
	src := &feed{n: 5, make: mlpMessages(mlp)}
	sink, dead := &componenttest.Collector{}, &componenttest.Collector{}
	run(t, src, stage, pipeline.NodeOptions{}, sink, dead)
	if len(sink.Messages()) != 0 || len(dead.Messages()) != 5 {
		t.Fatalf("%d delivered, %d dead; want 0 and 5", len(sink.Messages()), len(dead.Messages()))
	}
	if err := stage.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, err := build(t, dir, "{model: mlp.onnx, inputs: {x: window}, sha256: "+
		"'0000000000000000000000000000000000000000000000000000000000000000', learn: {every: 10}}"); err == nil {
		t.Error("a model pinned by sha256 was allowed to learn")
	}
	off, err := build(t, dir, "{model: mlp.onnx, inputs: {x: window}, learn: {every: 0}}")
	if err != nil || off.learn != nil {
		t.Errorf("learn.every 0 should turn learning off: %v, %v", err, off.learn)
	}
}

func finiteWeights(a *anomaly.Autoencoder) bool {
	for _, l := range a.Layers {
		for _, v := range append(append([]float32(nil), l.W...), l.B...) {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				return false
			}
		}
	}
	return true
}

// paced runs feed and calls wait after every `every` messages, as a
// stream arrives over time rather than all at once.
type paced struct {
	*feed
	every int
	wait  func(emitted int)
}

func (p *paced) Run(ctx context.Context, out pipeline.SourceOutput) error {
	return p.feed.Run(ctx, &pacedOutput{SourceOutput: out, p: p})
}

type pacedOutput struct {
	pipeline.SourceOutput
	p *paced
	n int
}

func (o *pacedOutput) Emit(m *pipeline.Message) error {
	if o.n++; o.n%o.p.every == 0 {
		o.p.wait(o.n)
	}
	return o.SourceOutput.Emit(m)
}
