package generate

import (
	"context"
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/edgeflow/edgeflow/internal/componenttest"
	"github.com/edgeflow/edgeflow/pipeline"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// runSource runs src into a collecting sink until it ends (or times out).
func runSource(t testing.TB, src pipeline.Source, timeout time.Duration) []*pipeline.Message {
	t.Helper()
	p := pipeline.New(pipeline.Options{Name: "test"})
	out := &componenttest.Collector{}
	if err := errors.Join(p.AddSource("src", src, pipeline.NodeOptions{}),
		p.AddSink("out", out, []string{"src"}, pipeline.NodeOptions{})); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := p.Run(ctx); err != nil {
		t.Fatal(err)
	}
	return out.Messages()
}

func gen(t testing.TB, src string) pipeline.Source {
	t.Helper()
	return componenttest.MustBuild(t, pipeline.KindSource, "generate", src).(pipeline.Source)
}

func TestCountAndKeys(t *testing.T) {
	msgs := runSource(t, gen(t, "keys: [a, b, c]\nrate: 0\ncount: 300"), 30*time.Second)
	if len(msgs) != 300 {
		t.Fatalf("got %d messages, want 300", len(msgs))
	}
	per := map[string]int{}
	for _, m := range msgs {
		per[m.Key]++
		if m.Fields["sensor"] != m.Key {
			t.Fatalf("sensor field %v != key %q", m.Fields["sensor"], m.Key)
		}
		if _, ok := m.Fields["value"].(float64); !ok {
			t.Fatalf("value is %T", m.Fields["value"])
		}
		if m.SourceTime.IsZero() {
			t.Fatal("no source time")
		}
	}
	if per["a"] != 100 || per["b"] != 100 || per["c"] != 100 {
		t.Fatalf("per key: %v", per)
	}
	msgs = runSource(t, gen(t, "keys: 5\nkey_prefix: m\nrate: 0\ncount: 10"), 30*time.Second)
	if msgs[0].Key != "m0" || msgs[4].Key != "m4" || msgs[5].Key != "m0" {
		t.Fatalf("keys: %q %q %q", msgs[0].Key, msgs[4].Key, msgs[5].Key)
	}
}

func values(msgs []*pipeline.Message) (vals []float64, labels []bool) {
	for _, m := range msgs {
		vals = append(vals, m.Fields["value"].(float64))
		labels = append(labels, m.Fields["anomaly"].(bool))
	}
	return
}

func TestDeterministic(t *testing.T) {
	cfg := "keys: 3\nrate: 0\ncount: 3000\nwaveform: noise\nnoise: 0.5\nanomalies: {probability: 0.01}\n"
	v1, l1 := values(runSource(t, gen(t, cfg+"seed: 7"), 30*time.Second))
	v2, l2 := values(runSource(t, gen(t, cfg+"seed: 7"), 30*time.Second))
	v3, _ := values(runSource(t, gen(t, cfg+"seed: 8"), 30*time.Second))
	same := func(a, b []float64) bool {
		for i := range a {
			if a[i] != b[i] {
				return false
			}
		}
		return len(a) == len(b)
	}
	if !same(v1, v2) {
		t.Fatal("same seed, different values")
	}
	for i := range l1 {
		if l1[i] != l2[i] {
			t.Fatal("same seed, different labels")
		}
	}
	if same(v1, v3) {
		t.Fatal("different seeds, same values")
	}
}

func TestSineShape(t *testing.T) {
	msgs := runSource(t, gen(t, "keys: 1\nrate: 0\ncount: 100\namplitude: 2\noffset: 10\nperiod: 20"), 30*time.Second)
	vals, _ := values(msgs)
	for i, v := range vals {
		want := 10 + 2*math.Sin(2*math.Pi*float64(i)/20)
		if math.Abs(v-want) > 1e-9 {
			t.Fatalf("reading %d = %v, want %v", i, v, want)
		}
	}
}

func TestScheduledAnomaliesAreLabelled(t *testing.T) {
	for _, kind := range []string{"spike", "shift", "stuck"} {
		t.Run(kind, func(t *testing.T) {
			cfg := "keys: 1\nrate: 0\ncount: 400\nwaveform: sine\namplitude: 1\nperiod: 50\noffset: 100\n" +
				"anomalies: {every: 100, duration: 10, magnitude: 20, kinds: [" + kind + "]}"
			vals, labels := values(runSource(t, gen(t, cfg), 30*time.Second))
			for i, v := range vals {
				inAnomaly := i >= 100 && i%100 < map[string]int{"spike": 1, "shift": 10, "stuck": 10}[kind]
				if labels[i] != inAnomaly {
					t.Fatalf("reading %d labelled %v, want %v", i, labels[i], inAnomaly)
				}
				clean := 100 + math.Sin(2*math.Pi*float64(i)/50)
				switch {
				case !inAnomaly && math.Abs(v-clean) > 1e-9:
					t.Fatalf("clean reading %d = %v, want %v", i, v, clean)
				case inAnomaly && kind != "stuck" && math.Abs(math.Abs(v-100)-20) > 1.01:
					t.Fatalf("%s reading %d = %v, want about 100±20", kind, i, v)
				case inAnomaly && kind == "stuck" && v != vals[i-1]:
					t.Fatalf("stuck reading %d = %v, previous %v", i, v, vals[i-1])
				}
			}
		})
	}
}

func TestRandomAnomalyRate(t *testing.T) {
	cfg := "keys: 2\nrate: 0\ncount: 20000\nanomalies: {probability: 0.01, kinds: [spike]}"
	_, labels := values(runSource(t, gen(t, cfg), 30*time.Second))
	n := 0
	for _, l := range labels {
		if l {
			n++
		}
	}
	// Expect about 200 spikes; allow a wide margin.
	if n < 120 || n > 300 {
		t.Fatalf("%d anomalies in 20000 readings at p=0.01", n)
	}
}

func TestRate(t *testing.T) {
	start := time.Now()
	msgs := runSource(t, gen(t, "keys: 2\nrate: 100\ncount: 100"), 30*time.Second)
	// 2 keys at 100/s each: 100 messages take about 0.5s.
	if d := time.Since(start); d < 400*time.Millisecond || len(msgs) != 100 {
		t.Fatalf("%d messages in %v", len(msgs), d)
	}
	start = time.Now()
	runSource(t, gen(t, "keys: 2\nrate: 100\nrate_per: total\ncount: 50"), 30*time.Second)
	if d := time.Since(start); d < 400*time.Millisecond {
		t.Fatalf("50 messages at 100/s total took %v", d)
	}
}

func TestSyntheticTimes(t *testing.T) {
	msgs := runSource(t, gen(t, "keys: 2\nrate: 0\ncount: 6\nstart_time: 2024-01-01T00:00:00Z"), 30*time.Second)
	t0 := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	for i, m := range msgs {
		if want := t0.Add(time.Duration(i/2) * time.Second); !m.SourceTime.Equal(want) {
			t.Fatalf("message %d at %v, want %v", i, m.SourceTime, want)
		}
	}
}

func TestStopsOnCancel(t *testing.T) {
	p := pipeline.New(pipeline.Options{})
	out := &componenttest.Collector{}
	_ = p.AddSource("src", gen(t, "rate: 1000"), pipeline.NodeOptions{})
	_ = p.AddSink("out", out, []string{"src"}, pipeline.NodeOptions{})
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if err := p.Run(ctx); err != nil {
		t.Fatal(err)
	}
	if n := len(out.Messages()); n == 0 {
		t.Fatal("nothing emitted before cancel")
	}
}

func TestConfigErrors(t *testing.T) {
	for cfg, want := range map[string]string{
		"keys: [a, a]":                    "unique",
		"keys: 0":                         "between 1",
		"keys: {a: 1}":                    "count or a list",
		"start_time: yesterday":           "RFC 3339",
		"anomalies: {kinds: [explosion]}": "unknown anomaly kind",
		"waveform: square":                "not one of",
	} {
		_, err := componenttest.Build(t, pipeline.KindSource, "generate", cfg)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: err = %v, want %q", cfg, err, want)
		}
	}
}

// BenchmarkGenerate measures the source alone (its output discarded).
func BenchmarkGenerate(b *testing.B) {
	g := gen(b, "keys: 16\nrate: 0\nnoise: 0.1\nanomalies: {probability: 0.001}").(*Generator)
	g.cfg.count = b.N
	b.ReportAllocs()
	b.ResetTimer()
	if err := g.Run(context.Background(), discard{}); err != nil {
		b.Fatal(err)
	}
}

type discard struct{}

func (discard) Emit(*pipeline.Message) error        { return nil }
func (discard) DeadLetter(*pipeline.Message, error) {}
