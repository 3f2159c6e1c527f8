package componenttest

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/edgeflow/edgeflow/component"
	"github.com/edgeflow/edgeflow/pipeline"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// failStage fails (dead-letters) the messages whose key is its `fail` option
// and passes the others on.
type failStage struct {
	fail string
	res  component.Resources
}

func (s *failStage) Process(_ context.Context, m *pipeline.Message, out pipeline.Emitter) error {
	if m.Key == s.fail {
		return errors.New("bad key")
	}
	out.Emit(m)
	return nil
}

// failSink fails the messages whose key is "nack", so that they settle with
// an error.
type failSink struct{}

func (failSink) Write(_ context.Context, m *pipeline.Message) error {
	if m.Key == "nack" {
		return pipeline.Permanent(errors.New("refused"))
	}
	return nil
}

func init() {
	component.Register(component.Spec{
		Kind: pipeline.KindStage, Name: "componenttest-fail",
		Fields: []component.Field{{Name: "fail", Type: component.String, Default: "bad"}},
		New: func(conf *component.Config, res *component.Resources) (any, error) {
			if conf.String("fail") == "" {
				return nil, conf.Errorf("fail", "must not be empty")
			}
			return &failStage{fail: conf.String("fail"), res: *res}, nil
		},
	})
}

func keyed(keys ...string) []*pipeline.Message {
	var out []*pipeline.Message
	for _, k := range keys {
		out = append(out, &pipeline.Message{Key: k})
	}
	return out
}

func TestBuild(t *testing.T) {
	st := MustBuild(t, pipeline.KindStage, "componenttest-fail", "").(*failStage)
	if st.fail != "bad" || st.res.Node != "componenttest-fail" {
		t.Fatalf("defaults: fail %q node %q", st.fail, st.res.Node)
	}
	st = MustBuild(t, pipeline.KindStage, "componenttest-fail", "fail: x",
		WithDir("/d"), WithNode("p", "n"), WithConnections(map[string]component.Connection{"c": nil})).(*failStage)
	if st.fail != "x" || st.res.Dir != "/d" || st.res.Pipeline != "p" || st.res.Node != "n" || len(st.res.Connections) != 1 {
		t.Fatalf("options not applied: %+v", st.res)
	}
	// Parse errors are positioned in File and joined; constructor errors
	// come back as they are.
	_, err := Build(t, pipeline.KindStage, "componenttest-fail", "fail: 1\nnope: 2", WithPath("stages.f"))
	var ce *component.Error
	if !errors.As(err, &ce) || !strings.Contains(err.Error(), "test.yaml:2:1") || !strings.Contains(err.Error(), "stages.f") {
		t.Fatalf("unknown key: err = %v", err)
	}
	if _, err := Build(t, pipeline.KindStage, "componenttest-fail", "fail: ''"); err == nil || !strings.Contains(err.Error(), "must not be empty") {
		t.Fatalf("constructor error: %v", err)
	}
}

func TestRunChainAndTracking(t *testing.T) {
	src := NewTrackingSource(keyed("a", "bad", "b", "c")...)
	st := MustBuild(t, pipeline.KindStage, "componenttest-fail", "")
	res := RunChain(t, src, st, MustBuild(t, pipeline.KindStage, "componenttest-fail", "fail: c"))
	var keys []string
	for _, m := range res.Out {
		keys = append(keys, m.Key)
	}
	if strings.Join(keys, ",") != "a,b" || len(res.Dead) != 2 || res.Dead[0].Key != "bad" || res.Dead[1].Key != "c" {
		t.Fatalf("out %v, dead %d", keys, len(res.Dead))
	}
	if src.Acked() != 4 || src.Nacked() != 0 {
		t.Fatalf("acked %d nacked %d", src.Acked(), src.Nacked())
	}
	seen := map[int64]bool{}
	for i := range 4 {
		at := src.SettledAt(i)
		if at < 1 || at > 4 || seen[at] {
			t.Fatalf("message %d settled at %d", i, at)
		}
		seen[at] = true
	}
}

func TestTrackingSourceCountsFailures(t *testing.T) {
	src := NewTrackingSource(keyed("ok", "nack", "ok")...)
	p := pipeline.New(pipeline.Options{})
	if err := errors.Join(p.AddSource("src", src, pipeline.NodeOptions{}),
		p.AddSink("out", failSink{}, []string{"src"}, pipeline.NodeOptions{})); err != nil {
		t.Fatal(err)
	}
	if err := p.Run(t.Context()); err != nil {
		t.Fatal(err)
	}
	if src.Acked() != 2 || src.Nacked() != 1 || src.SettledAt(1) == 0 {
		t.Fatalf("acked %d nacked %d, message 1 settled at %d", src.Acked(), src.Nacked(), src.SettledAt(1))
	}
}

func TestWaitFor(t *testing.T) {
	start := time.Now()
	n := 0
	WaitFor(t, 10*time.Second, "three polls", func() bool { n++; return n == 3 })
	if n != 3 || time.Since(start) < 40*time.Millisecond {
		t.Fatalf("polled %d times in %v", n, time.Since(start))
	}
}
