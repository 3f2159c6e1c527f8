package anomaly

import (
	"context"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/edgeflow/edgeflow/anomaly"
	"github.com/edgeflow/edgeflow/component"
	"github.com/edgeflow/edgeflow/internal/componenttest"
	"github.com/edgeflow/edgeflow/pipeline"
	_ "github.com/edgeflow/edgeflow/stages/window"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const win = 16

// signal is a noisy sine per sensor, shifted by +4 (in units of its
// amplitude) during each fault.
func signal(sensor, i int, r *rand.Rand, faults []int) float64 {
	v := 50 + 10*float64(sensor) + 3*math.Sin(float64(i)*2*math.Pi/40+float64(sensor)) + 0.2*r.NormFloat64()
	for _, f := range faults {
		if i >= f && i < f+60 {
			v += 12
		}
	}
	return v
}

// trainedModel trains the autoencoder the way `model train` does, on
// fault-free data normalised per sensor.
func trainedModel(t *testing.T) *anomaly.Autoencoder {
	t.Helper()
	r := rand.New(rand.NewPCG(1, 2))
	var wins [][]float32
	for s := range 2 {
		vals := make([]float64, 1500)
		z := &anomaly.Normalizer{}
		for i := range vals {
			vals[i] = signal(s, i, r, nil)
			z.Observe(vals[i])
		}
		wins = append(wins, anomaly.Windows(vals, 0, len(vals), win, z)...)
	}
	ae, _, err := anomaly.Train(wins, anomaly.TrainConfig{Epochs: 30, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	return ae
}

// goModel stands in for the onnx stage: it runs the same network in Go.
type goModel struct{ ae *anomaly.Autoencoder }

func (g goModel) Process(_ context.Context, m *pipeline.Message, out pipeline.Emitter) error {
	x := m.Fields["window_norm"].([]float32)
	m.Fields["reconstruction"] = g.ae.Forward(x, nil)
	out.Emit(m)
	return nil
}

func readings(n int, faults map[int][]int) []*pipeline.Message {
	r := rand.New(rand.NewPCG(7, 7))
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	var msgs []*pipeline.Message
	for i := range n {
		for s := range 2 {
			m := pipeline.NewMessage(nil)
			m.Key = []string{"pump-1", "pump-2"}[s]
			m.SourceTime = t0.Add(time.Duration(i) * time.Minute)
			m.Fields = map[string]any{"value": signal(s, i, r, faults[s])}
			msgs = append(msgs, m)
		}
	}
	return msgs
}

func TestOneAlertPerInjectedFault(t *testing.T) {
	ae := trainedModel(t)
	faults := map[int][]int{0: {1200, 2400}, 1: {1800}}
	src := componenttest.NewTrackingSource(readings(3000, faults)...)
	res := componenttest.RunChain(t, src,
		componenttest.MustBuild(t, pipeline.KindStage, "window", "size: 16"),
		componenttest.MustBuild(t, pipeline.KindStage, "anomaly", "mode: normalize\nwarmup: 300"),
		goModel{ae},
		componenttest.MustBuild(t, pipeline.KindStage, "anomaly", "learn: 300\nthreshold: 0.5\nrest: 300"),
	)
	bySensor := map[string][]time.Time{}
	for _, m := range res.Out {
		if m.Fields["alert"] != true {
			t.Fatalf("emit: alerts let a non-alert through: %v", m.Fields)
		}
		bySensor[m.Key] = append(bySensor[m.Key], m.SourceTime)
		for _, f := range []string{"sensor", "time", "score", "likelihood", "min", "max", "mean", "last"} {
			if _, ok := m.Fields[f]; !ok {
				t.Fatalf("alert lacks %q: %v", f, m.Fields)
			}
		}
		if m.Fields["score"].(float64) < 0.5 || m.Fields["max"].(float64) < m.Fields["min"].(float64) {
			t.Fatalf("alert fields %v", m.Fields)
		}
	}
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	for s, key := range []string{"pump-1", "pump-2"} {
		got := bySensor[key]
		if len(got) != len(faults[s]) {
			t.Fatalf("%s: alerts at %v, faults start at minutes %v: want one alert each", key, got, faults[s])
		}
		for k, at := range got {
			min := int(at.Sub(t0) / time.Minute)
			if min < faults[s][k] || min > faults[s][k]+20 {
				t.Fatalf("%s: alert at minute %d for a fault at %d", key, min, faults[s][k])
			}
		}
	}
	if n := src.Acked(); n != 6000 || src.Nacked() != 0 {
		t.Fatalf("acked %d nacked %d of 6000 readings", n, src.Nacked())
	}
}

func TestEmitAllAndBadMessages(t *testing.T) {
	st := componenttest.MustBuild(t, pipeline.KindStage, "anomaly", "emit: all\nlearn: 10\nmax_keys: 2").(*Stage)
	var msgs []*pipeline.Message
	for i := range 30 {
		m := pipeline.NewMessage(nil)
		m.Key = []string{"a", "b", "c"}[i%3]
		m.Fields = map[string]any{"window_norm": []float32{1, 2}, "reconstruction": []float32{1, 2.1}, "window": []float32{3, 4}}
		msgs = append(msgs, m)
	}
	bad := pipeline.NewMessage(nil)
	bad.Fields = map[string]any{"window_norm": []float32{1, 2}, "reconstruction": []float32{1}}
	msgs = append(msgs, bad)
	src := componenttest.NewTrackingSource(msgs...)
	res := componenttest.RunChain(t, src, st)
	if len(res.Out) != 30 || len(res.Dead) != 1 {
		t.Fatalf("out %d dead %d, want 30 scores and 1 dead letter", len(res.Out), len(res.Dead))
	}
	if st.Keys() > 2 {
		t.Fatalf("%d sensors held past max_keys 2", st.Keys())
	}
	if res.Out[0].Fields["ready"] != false {
		t.Fatal("the first window cannot be ready")
	}
	if src.Acked() != 31 {
		t.Fatalf("acked %d of 31", src.Acked())
	}
}

func TestConfigErrors(t *testing.T) {
	for _, src := range []string{
		"rest: 0",
		"bins: -2",
		"mode: normalize\nnormalized: window",
		"mode: sideways",
		"threshold: 0",
	} {
		if _, err := componenttest.Build(t, pipeline.KindStage, "anomaly", src); err == nil {
			t.Errorf("%q: want a config error", src)
		}
	}
	if _, ok := component.Lookup(pipeline.KindStage, "anomaly"); !ok {
		t.Fatal("anomaly stage not registered")
	}
}

// TestModelVersionRestartsTheErrorLikelihood: an on-device update (the onnx
// stage's learn_version rises) brings errors 10× smaller at once. Judged
// against the old model's errors that drop is an anomaly (two-sided
// likelihood); the stage must instead learn the new model's errors afresh,
// stay quiet meanwhile, and still catch a fault of the new model. A window
// of an older version arriving late must not restart it again.
func TestModelVersionRestartsTheErrorLikelihood(t *testing.T) {
	st := componenttest.MustBuild(t, pipeline.KindStage, "anomaly",
		"emit: all\nlearn: 100\nbins: -1\nthreshold: 0.5\nrest: 300").(*Stage)
	r := rand.New(rand.NewPCG(3, 3))
	const swap, stale, fault = 1000, 1500, 2000
	var msgs []*pipeline.Message
	for i := range 2400 {
		level, version := 0.05, 0
		if i >= swap {
			level, version = 0.005, 1
		}
		if i == stale {
			version = 0
		}
		if i >= fault && i < fault+60 {
			level *= 8
		}
		e := float32(math.Sqrt(level * math.Exp(0.3*r.NormFloat64())))
		m := pipeline.NewMessage(nil)
		m.Key = "pump"
		m.Fields = map[string]any{"window_norm": []float32{0, 0}, "reconstruction": []float32{e, e}, "learn_version": version}
		msgs = append(msgs, m)
	}
	res := componenttest.RunChain(t, componenttest.NewTrackingSource(msgs...), st)
	if len(res.Out) != len(msgs) {
		t.Fatalf("%d scores of %d windows", len(res.Out), len(msgs))
	}
	var alerts []int
	for i, m := range res.Out {
		if m.Fields["alert"] == true {
			alerts = append(alerts, i)
		}
		score := m.Fields["score"].(float64)
		switch {
		case i >= swap && i < swap+100 && (m.Fields["ready"] != true || score != 0):
			t.Fatalf("window %d, relearning after the swap: ready %v score %v, want ready with score 0", i, m.Fields["ready"], score)
		case i > stale && i < stale+100 && score == 0:
			t.Fatalf("window %d: score 0 after a stale version: the likelihood restarted again", i)
		}
	}
	if len(alerts) != 1 || alerts[0] < fault || alerts[0] > fault+20 {
		t.Fatalf("alerts at windows %v: want one, for the fault at %d (none for the swap at %d)", alerts, fault, swap)
	}
}
