package throttle

import (
	"strings"
	"testing"
	"time"

	"github.com/edgeflow/edgeflow/internal/componenttest"
	"github.com/edgeflow/edgeflow/pipeline"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func msgs(n int, keys ...string) []*pipeline.Message {
	var out []*pipeline.Message
	for i := range n {
		out = append(out, &pipeline.Message{Key: keys[i%len(keys)]})
	}
	return out
}

func TestDelayRate(t *testing.T) {
	// 300 messages at 500/s with a burst of 50: about 0.5s, and none lost.
	st := componenttest.MustBuild(t, pipeline.KindStage, "throttle", "rate: 50\ninterval: 100ms")
	src := componenttest.NewTrackingSource(msgs(300, "a")...)
	start := time.Now()
	res := componenttest.RunChain(t, src, st)
	d := time.Since(start)
	if len(res.Out) != 300 || src.Acked() != 300 {
		t.Fatalf("out %d acked %d", len(res.Out), src.Acked())
	}
	// Never faster than the limit allows; generous above.
	if d < 450*time.Millisecond || d > 5*time.Second {
		t.Fatalf("300 messages at 500/s (burst 50) took %v, want about 500ms", d)
	}
}

func TestDropPerKey(t *testing.T) {
	// An hour-long interval: each key gets exactly its burst of 5.
	st := componenttest.MustBuild(t, pipeline.KindStage, "throttle", "rate: 5\ninterval: 1h\nper_key: true\nmode: drop").(*Throttle)
	src := componenttest.NewTrackingSource(msgs(300, "a", "b", "c")...)
	res := componenttest.RunChain(t, src, st)
	per := map[string]int{}
	for _, m := range res.Out {
		per[m.Key]++
	}
	if per["a"] != 5 || per["b"] != 5 || per["c"] != 5 {
		t.Fatalf("passed per key: %v", per)
	}
	// Dropped messages are counted and acknowledged, not failed.
	if st.Dropped() != 285 || src.Acked() != 300 || src.Nacked() != 0 {
		t.Fatalf("dropped %d acked %d nacked %d", st.Dropped(), src.Acked(), src.Nacked())
	}
}

func TestDropGlobalBurst(t *testing.T) {
	st := componenttest.MustBuild(t, pipeline.KindStage, "throttle", "rate: 1\ninterval: 1h\nburst: 7\nmode: drop")
	res := componenttest.RunChain(t, componenttest.NewTrackingSource(msgs(100, "a", "b")...), st)
	if len(res.Out) != 7 {
		t.Fatalf("passed %d, want the burst of 7", len(res.Out))
	}
}

func TestMaxKeys(t *testing.T) {
	// One bucket for three keys: each new key evicts the last, so every key
	// starts afresh with a full bucket and nothing is dropped.
	st := componenttest.MustBuild(t, pipeline.KindStage, "throttle", "rate: 1\ninterval: 1h\nper_key: true\nmode: drop\nmax_keys: 1")
	res := componenttest.RunChain(t, componenttest.NewTrackingSource(msgs(30, "a", "b", "c")...), st)
	if len(res.Out) != 30 {
		t.Fatalf("passed %d of 30", len(res.Out))
	}
}

func TestConfigErrors(t *testing.T) {
	for cfg, want := range map[string]string{
		"interval: 1s":          "rate",
		"rate: 0":               "minimum",
		"rate: 1\nmode: queue":  "not one of",
		"rate: 1\ninterval: 0s": "positive",
	} {
		if _, err := componenttest.Build(t, pipeline.KindStage, "throttle", cfg); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: err = %v, want %q", cfg, err, want)
		}
	}
}
