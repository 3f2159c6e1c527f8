package mapping

import (
	"context"
	"strings"
	"testing"

	"github.com/edgeflow/edgeflow/internal/componenttest"
	"github.com/edgeflow/edgeflow/pipeline"
	_ "github.com/edgeflow/edgeflow/sources/generate"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func reading(key string, fields map[string]any) *pipeline.Message {
	return &pipeline.Message{Key: key, Topic: "plant/" + key, Fields: fields}
}

func TestSetKeyDelete(t *testing.T) {
	st := componenttest.MustBuild(t, pipeline.KindStage, "map", `
set:
  celsius: value
  value: celsius * 1.8 + 32
  label: 'key + "@" + topic'
key: '"p1/" + sensor'
delete: [celsius]
`)
	src := componenttest.NewTrackingSource(
		reading("a", map[string]any{"sensor": "a", "value": 100.0}),
		reading("b", map[string]any{"sensor": "b", "value": 0.0}),
	)
	res := componenttest.RunChain(t, src, st)
	if len(res.Out) != 2 || len(res.Dead) != 0 {
		t.Fatalf("out %d, dead %d", len(res.Out), len(res.Dead))
	}
	m := res.Out[0]
	if m.Fields["value"] != 212.0 || m.Fields["label"] != "a@plant/a" || m.Key != "p1/a" {
		t.Fatalf("got key %q fields %v", m.Key, m.Fields)
	}
	if _, ok := m.Fields["celsius"]; ok {
		t.Fatal("celsius not deleted")
	}
	if res.Out[1].Fields["value"] != 32.0 {
		t.Fatalf("second: %v", res.Out[1].Fields)
	}
	if src.Acked() != 2 {
		t.Fatalf("acked %d", src.Acked())
	}
}

func TestRuntimeErrorsAreDeadLettered(t *testing.T) {
	st := componenttest.MustBuild(t, pipeline.KindStage, "map", "set: {double: value * 2}\nkey: value")
	src := componenttest.NewTrackingSource(
		reading("ok", map[string]any{"value": 1.0}),
		reading("missing", map[string]any{"other": 1.0}),
		reading("text", map[string]any{"value": "hot"}),
	)
	res := componenttest.RunChain(t, src, st)
	if len(res.Out) != 1 || res.Out[0].Key != "1" || res.Out[0].Fields["double"] != 2.0 {
		t.Fatalf("out: %v", res.Out)
	}
	if len(res.Dead) != 2 {
		t.Fatalf("dead letters: %d", len(res.Dead))
	}
	for _, d := range res.Dead {
		if e := d.Meta[pipeline.MetaDeadLetterError]; !strings.Contains(e, "set double") {
			t.Errorf("dead letter %q: error %q does not name the field", d.Key, e)
		}
	}
	// Dead-lettered messages are settled without error (they were handled).
	if src.Acked() != 3 || src.Nacked() != 0 {
		t.Fatalf("acked %d nacked %d", src.Acked(), src.Nacked())
	}
}

func TestBadKeyType(t *testing.T) {
	st := componenttest.MustBuild(t, pipeline.KindStage, "map", "key: fields")
	res := componenttest.RunChain(t, componenttest.NewTrackingSource(reading("a", map[string]any{"v": 1.0})), st)
	if len(res.Dead) != 1 || !strings.Contains(res.Dead[0].Meta[pipeline.MetaDeadLetterError], "want a string") {
		t.Fatalf("dead: %v", res.Dead)
	}
}

func TestConfigErrors(t *testing.T) {
	for cfg, want := range map[string]string{
		"set: {x: value +}":     "test.yaml:1:",
		"set: {key: '\"a\"'}":   "reserved",
		"key: 'a b c'":          "does not compile",
		"delete: [source_time]": "not a field",
		"{}":                    "at least one",
	} {
		_, err := componenttest.Build(t, pipeline.KindStage, "map", cfg)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: err = %v, want %q", cfg, err, want)
		}
	}
}

// BenchmarkMap measures the stage alone on a generator-like reading.
func BenchmarkMap(b *testing.B) {
	st := componenttest.MustBuild(b, pipeline.KindStage, "map", "set: {value: value * 1.8 + 32}").(pipeline.Processor)
	m := reading("s", map[string]any{"sensor": "s", "value": 20.0, "anomaly": false})
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		m.Fields["value"] = 20.0
		if err := st.Process(ctx, m, nopEmitter{}); err != nil {
			b.Fatal(err)
		}
	}
}

type nopEmitter struct{}

func (nopEmitter) Emit(*pipeline.Message) {}

// BenchmarkGenerateMapDrop runs the engine benchmark's shape: generate ->
// map -> a discarding sink, through real queues.
func BenchmarkGenerateMapDrop(b *testing.B) {
	src := componenttest.MustBuild(b, pipeline.KindSource, "generate", "keys: 16\nrate: 0\ncount: "+itoa(b.N)).(pipeline.Source)
	st := componenttest.MustBuild(b, pipeline.KindStage, "map", "set: {value: value * 1.8 + 32}")
	p := pipeline.New(pipeline.Options{Buffer: 1024})
	_ = p.AddSource("gen", src, pipeline.NodeOptions{})
	_ = p.AddStage("map", st, []string{"gen"}, pipeline.NodeOptions{})
	_ = p.AddSink("drop", discardSink{}, []string{"map"}, pipeline.NodeOptions{})
	b.ReportAllocs()
	b.ResetTimer()
	if err := p.Run(context.Background()); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}

type discardSink struct{}

func (discardSink) Write(context.Context, *pipeline.Message) error { return nil }

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b []byte
	for ; n > 0; n /= 10 {
		b = append([]byte{byte('0' + n%10)}, b...)
	}
	return string(b)
}
