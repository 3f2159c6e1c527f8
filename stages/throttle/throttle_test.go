package throttle

import (
	"strings"
	"testing"
	"time"

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
	st := mustBuild(t, pipeline.KindStage, "throttle", "rate: 50\ninterval: 100ms")
	src := newTrackSource(msgs(300, "a")...)
	start := time.Now()
	res := runStages(t, src, st)
	d := time.Since(start)
	if len(res.out) != 300 || src.acked.Load() != 300 {
		t.Fatalf("out %d acked %d", len(res.out), src.acked.Load())
	}
	// Never faster than the limit allows; generous above.
	if d < 450*time.Millisecond || d > 5*time.Second {
		t.Fatalf("300 messages at 500/s (burst 50) took %v, want about 500ms", d)
	}
}

func TestDropPerKey(t *testing.T) {
	// An hour-long interval: each key gets exactly its burst of 5.
	st := mustBuild(t, pipeline.KindStage, "throttle", "rate: 5\ninterval: 1h\nper_key: true\nmode: drop").(*Throttle)
	src := newTrackSource(msgs(300, "a", "b", "c")...)
	res := runStages(t, src, st)
	per := map[string]int{}
	for _, m := range res.out {
		per[m.Key]++
	}
	if per["a"] != 5 || per["b"] != 5 || per["c"] != 5 {
		t.Fatalf("passed per key: %v", per)
	}
	// Dropped messages are counted and acknowledged, not failed.
	if st.Dropped() != 285 || src.acked.Load() != 300 || src.nacked.Load() != 0 {
		t.Fatalf("dropped %d acked %d nacked %d", st.Dropped(), src.acked.Load(), src.nacked.Load())
	}
}

func TestDropGlobalBurst(t *testing.T) {
	st := mustBuild(t, pipeline.KindStage, "throttle", "rate: 1\ninterval: 1h\nburst: 7\nmode: drop")
	res := runStages(t, newTrackSource(msgs(100, "a", "b")...), st)
	if len(res.out) != 7 {
		t.Fatalf("passed %d, want the burst of 7", len(res.out))
	}
}

func TestMaxKeys(t *testing.T) {
	// One bucket for three keys: each new key evicts the last, so every key
	// starts afresh with a full bucket and nothing is dropped.
	st := mustBuild(t, pipeline.KindStage, "throttle", "rate: 1\ninterval: 1h\nper_key: true\nmode: drop\nmax_keys: 1")
	res := runStages(t, newTrackSource(msgs(30, "a", "b", "c")...), st)
	if len(res.out) != 30 {
		t.Fatalf("passed %d of 30", len(res.out))
	}
}

func TestConfigErrors(t *testing.T) {
	for cfg, want := range map[string]string{
		"interval: 1s":          "rate",
		"rate: 0":               "minimum",
		"rate: 1\nmode: queue":  "not one of",
		"rate: 1\ninterval: 0s": "positive",
	} {
		if _, err := build(t, pipeline.KindStage, "throttle", cfg); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: err = %v, want %q", cfg, err, want)
		}
	}
}
