package window

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edgeflow/edgeflow/internal/componenttest"
	"github.com/edgeflow/edgeflow/pipeline"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// readings returns n readings alternating over keys; reading i has value i
// and source time t0+i seconds.
func readings(n int, keys ...string) []*pipeline.Message {
	t0 := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	var out []*pipeline.Message
	for i := range n {
		out = append(out, &pipeline.Message{Key: keys[i%len(keys)],
			Fields: map[string]any{"value": float64(i)}, SourceTime: t0.Add(time.Duration(i) * time.Second)})
	}
	return out
}

func windows(msgs []*pipeline.Message) map[string][]string {
	out := map[string][]string{}
	for _, m := range msgs {
		out[m.Key] = append(out[m.Key], fmt.Sprint(m.Fields["window"]))
	}
	return out
}

func TestSlidingPerKey(t *testing.T) {
	st := componenttest.MustBuild(t, pipeline.KindStage, "window", "size: 3")
	res := componenttest.RunChain(t, componenttest.NewTrackingSource(readings(10, "a", "b")...), st)
	got := windows(res.Out)
	want := map[string][]string{
		"a": {"[0 2 4]", "[2 4 6]", "[4 6 8]"},
		"b": {"[1 3 5]", "[3 5 7]", "[5 7 9]"},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("got %v\nwant %v", got, want)
	}
	m := res.Out[0]
	t0 := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	if m.Fields["key"] != "a" || m.Fields["count"] != 3 || m.Key != "a" ||
		!m.Fields["start"].(time.Time).Equal(t0) || !m.Fields["end"].(time.Time).Equal(t0.Add(4*time.Second)) {
		t.Fatalf("fields %v", m.Fields)
	}
	if _, ok := m.Fields["window"].([]float32); !ok {
		t.Fatalf("window is %T", m.Fields["window"])
	}
}

func TestStep(t *testing.T) {
	st := componenttest.MustBuild(t, pipeline.KindStage, "window", "size: 4\nstep: 2\nfield: v\noutput: x")
	var msgs []*pipeline.Message
	for i := range 9 {
		msgs = append(msgs, &pipeline.Message{Key: "k", Fields: map[string]any{"v": i}})
	}
	res := componenttest.RunChain(t, componenttest.NewTrackingSource(msgs...), st)
	var got []string
	for _, m := range res.Out {
		got = append(got, fmt.Sprint(m.Fields["x"]))
	}
	if want := "[0 1 2 3] [2 3 4 5] [4 5 6 7]"; strings.Join(got, " ") != want {
		t.Fatalf("got %v, want %s", got, want)
	}
}

// checkSink asserts, as each window is written, that none of the readings
// that are in no earlier window has been acknowledged yet.
type checkSink struct {
	src    *componenttest.TrackingSource
	mu     sync.Mutex
	n      int
	seen   map[float32]bool
	errs   []error
	failOn int // 1-based index of the window to fail, 0 = none
}

func (c *checkSink) Write(_ context.Context, m *pipeline.Message) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n++
	if c.seen == nil {
		c.seen = map[float32]bool{}
	}
	for _, v := range m.Fields["window"].([]float32) {
		if c.seen[v] {
			continue
		}
		c.seen[v] = true
		if at := c.src.SettledAt(int(v)); at != 0 {
			c.errs = append(c.errs, fmt.Errorf("window %d: reading %v settled before its first window was delivered", c.n, v))
		}
	}
	if c.n == c.failOn {
		return errors.New("sink down")
	}
	return nil
}

func runWithSink(t *testing.T, src *componenttest.TrackingSource, st any, sink pipeline.Sink) {
	t.Helper()
	p := pipeline.New(pipeline.Options{Buffer: 2})
	err := errors.Join(p.AddSource("src", src, pipeline.NodeOptions{}),
		p.AddStage("w", st, []string{"src"}, pipeline.NodeOptions{}),
		p.AddSink("out", sink, []string{"w"}, pipeline.NodeOptions{}))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := p.Run(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestAcksWaitForFirstWindowDelivery(t *testing.T) {
	// Three keys warming up hold at most 3*(size-1) readings: under max_held.
	for _, cfg := range []string{"size: 5", "size: 5\nstep: 5", "size: 3\nstep: 2"} {
		t.Run(cfg, func(t *testing.T) {
			src := componenttest.NewTrackingSource(readings(200, "a", "b", "c")...)
			sink := &checkSink{src: src}
			runWithSink(t, src, componenttest.MustBuild(t, pipeline.KindStage, "window", cfg), sink)
			if err := errors.Join(sink.errs...); err != nil {
				t.Fatal(err)
			}
			if sink.n == 0 {
				t.Fatal("no windows")
			}
			if src.Acked() != 200 || src.Nacked() != 0 {
				t.Fatalf("acked %d nacked %d", src.Acked(), src.Nacked())
			}
		})
	}
}

func TestSilentSensorDoesNotHoldBackOthers(t *testing.T) {
	// "quiet" sends two readings and falls silent while "busy" goes on:
	// with max_held 8 the quiet readings are acknowledged early, long before
	// the input ends, instead of holding back an in-order broker.
	msgs := readings(2, "quiet")
	for i := range 200 {
		msgs = append(msgs, &pipeline.Message{Key: "busy", Fields: map[string]any{"value": float64(2 + i)}})
	}
	src := componenttest.NewTrackingSource(msgs...)
	st := componenttest.MustBuild(t, pipeline.KindStage, "window", "size: 4\nmax_held: 8").(*Window)
	sink := &checkSink{src: src}
	runWithSink(t, src, st, sink)
	if err := errors.Join(sink.errs...); err != nil {
		t.Fatal(err)
	}
	if at := src.SettledAt(0); at == 0 || at > 20 {
		t.Fatalf("the silent sensor's first reading settled %dth of 202: held back", at)
	}
	if st.EarlyAcks() != 2 { // quiet's two; busy's all reach windows
		t.Fatalf("early acks %d, want 2", st.EarlyAcks())
	}
	if src.Acked() != 202 || src.Nacked() != 0 {
		t.Fatalf("acked %d nacked %d", src.Acked(), src.Nacked())
	}
}

func TestMaxHeldZeroAcksOnEntry(t *testing.T) {
	src := componenttest.NewTrackingSource(readings(10, "a")...)
	res := componenttest.RunChain(t, src, componenttest.MustBuild(t, pipeline.KindStage, "window", "size: 20\nmax_held: 0"))
	if len(res.Out) != 0 || src.Acked() != 10 {
		t.Fatalf("out %d acked %d: readings should be acked on entry", len(res.Out), src.Acked())
	}
}

func TestFailedWindowNacksItsReadings(t *testing.T) {
	// Tumbling windows of 4 on one key: the second window (readings 4-7)
	// fails to deliver, so exactly those readings are nacked.
	src := componenttest.NewTrackingSource(readings(12, "a")...)
	sink := &checkSink{src: src, failOn: 2}
	runWithSink(t, src, componenttest.MustBuild(t, pipeline.KindStage, "window", "size: 4\nstep: 4"), sink)
	if src.Acked() != 8 || src.Nacked() != 4 {
		t.Fatalf("acked %d nacked %d", src.Acked(), src.Nacked())
	}
}

func TestNonNumericDeadLettered(t *testing.T) {
	msgs := readings(4, "a")
	msgs[1].Fields["value"] = "hot"
	delete(msgs[2].Fields, "value")
	src := componenttest.NewTrackingSource(msgs...)
	res := componenttest.RunChain(t, src, componenttest.MustBuild(t, pipeline.KindStage, "window", "size: 2\nemit_partial: true"))
	if len(res.Dead) != 2 || !strings.Contains(res.Dead[0].Meta[pipeline.MetaDeadLetterError], "want a number") {
		t.Fatalf("dead %v", res.Dead)
	}
	if got := windows(res.Out)["a"]; !slices.Equal(got, []string{"[0 3]"}) {
		t.Fatalf("windows %v", got)
	}
	if src.Acked() != 4 {
		t.Fatalf("acked %d", src.Acked())
	}
}

func TestFlushPartial(t *testing.T) {
	// 5 readings per key with size 3, step 3: one full window each, then 2
	// readings not yet in a window; the final window is the last 3.
	for _, partial := range []bool{false, true} {
		src := componenttest.NewTrackingSource(readings(10, "a", "b")...)
		st := componenttest.MustBuild(t, pipeline.KindStage, "window", fmt.Sprintf("size: 3\nstep: 3\nemit_partial: %v", partial))
		res := componenttest.RunChain(t, src, st)
		got := windows(res.Out)
		want := map[string][]string{"a": {"[0 2 4]"}, "b": {"[1 3 5]"}}
		if partial {
			want = map[string][]string{"a": {"[0 2 4]", "[4 6 8]"}, "b": {"[1 3 5]", "[5 7 9]"}}
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("partial=%v: got %v, want %v", partial, got, want)
		}
		if src.Acked() != 10 {
			t.Fatalf("partial=%v: acked %d", partial, src.Acked())
		}
	}
}

func TestFlushPartialShort(t *testing.T) {
	src := componenttest.NewTrackingSource(readings(2, "a")...)
	res := componenttest.RunChain(t, src, componenttest.MustBuild(t, pipeline.KindStage, "window", "size: 5\nemit_partial: true"))
	if got := windows(res.Out)["a"]; !slices.Equal(got, []string{"[0 1]"}) || res.Out[0].Fields["count"] != 2 {
		t.Fatalf("windows %v", got)
	}
	if src.Acked() != 2 {
		t.Fatalf("acked %d", src.Acked())
	}
}

func TestMaxKeys(t *testing.T) {
	// Two keys alternating with room for one: each evicts the other, so no
	// window of 2 ever fills, and every reading is still acknowledged.
	src := componenttest.NewTrackingSource(readings(20, "a", "b")...)
	res := componenttest.RunChain(t, src, componenttest.MustBuild(t, pipeline.KindStage, "window", "size: 2\nmax_keys: 1"))
	if len(res.Out) != 0 || src.Acked() != 20 {
		t.Fatalf("out %d acked %d", len(res.Out), src.Acked())
	}
}

func TestConfigErrors(t *testing.T) {
	for cfg, want := range map[string]string{
		"step: 2":                "size",
		"size: 0":                "minimum",
		"size: 3\noutput: count": "clashes",
	} {
		if _, err := componenttest.Build(t, pipeline.KindStage, "window", cfg); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: err = %v, want %q", cfg, err, want)
		}
	}
}

// reuseSink checks each window as it is written, after the engine may have
// handed earlier windows back to the stage for reuse.
type reuseSink struct {
	mu       sync.Mutex
	n        int
	pointers map[*pipeline.Message]bool
	arrays   map[*float32]bool // the windows' values
	errs     []error
}

func (r *reuseSink) Write(_ context.Context, m *pipeline.Message) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.n++
	if r.pointers == nil {
		r.pointers, r.arrays = map[*pipeline.Message]bool{}, map[*float32]bool{}
	}
	r.pointers[m] = true
	vals, _ := m.Fields["window"].([]float32)
	if len(vals) > 0 {
		r.arrays[&vals[0]] = true
	}
	end, _ := m.Fields["end"].(time.Time)
	ok := m.Fields["key"] == m.Key && m.Fields["count"] == len(vals) && len(vals) == 5 && end.Equal(m.SourceTime)
	for i := 1; ok && i < len(vals); i++ {
		ok = vals[i] == vals[i-1]+3 // readings alternate over three keys
	}
	if !ok {
		r.errs = append(r.errs, fmt.Errorf("window %d of %q is not one window: %v", r.n, m.Key, m.Fields))
	}
	return nil
}

// TestReusedWindowsAreIntact: the stage reuses a window's message, its
// fields map and its values' slice once the engine has settled it; every window delivered is
// still whole and its own, and the messages did go round.
func TestReusedWindowsAreIntact(t *testing.T) {
	src := componenttest.NewTrackingSource(readings(3000, "a", "b", "c")...)
	sink := &reuseSink{}
	runWithSink(t, src, componenttest.MustBuild(t, pipeline.KindStage, "window", "size: 5"), sink)
	if err := errors.Join(sink.errs...); err != nil {
		t.Fatal(err)
	}
	if want := 3000 - 3*4; sink.n != want || src.Acked() != 3000 {
		t.Fatalf("%d windows (want %d), %d acked", sink.n, want, src.Acked())
	}
	if len(sink.pointers) > sink.n/10 {
		t.Errorf("%d windows in %d messages: settled windows are not reused", sink.n, len(sink.pointers))
	}
	if len(sink.arrays) > sink.n/10 {
		t.Errorf("%d windows in %d value slices: settled windows' values are not reused", sink.n, len(sink.arrays))
	}
}
