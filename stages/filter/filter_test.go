package filter

import (
	"errors"
	"strings"
	"testing"

	"github.com/edgeflow/edgeflow/internal/componenttest"
	"github.com/edgeflow/edgeflow/pipeline"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func reading(key string, v any) *pipeline.Message {
	return &pipeline.Message{Key: key, Fields: map[string]any{"value": v}}
}

func TestFilter(t *testing.T) {
	st := componenttest.MustBuild(t, pipeline.KindStage, "filter", `condition: value > 10 && key != "skip"`)
	src := componenttest.NewTrackingSource(reading("a", 5.0), reading("b", 15.0), reading("skip", 50.0), reading("c", 11.0))
	res := componenttest.RunChain(t, src, st)
	var keys []string
	for _, m := range res.Out {
		keys = append(keys, m.Key)
	}
	if strings.Join(keys, ",") != "b,c" {
		t.Fatalf("passed %v", keys)
	}
	// Filtered messages are acknowledged, not failed.
	if src.Acked() != 4 || src.Nacked() != 0 || len(res.Dead) != 0 {
		t.Fatalf("acked %d nacked %d dead %d", src.Acked(), src.Nacked(), len(res.Dead))
	}
}

func TestErrorsAreDeadLettered(t *testing.T) {
	st := componenttest.MustBuild(t, pipeline.KindStage, "filter", `condition: value`)
	src := componenttest.NewTrackingSource(reading("bool", true), reading("number", 3.0), &pipeline.Message{Key: "none"})
	res := componenttest.RunChain(t, src, st)
	if len(res.Out) != 1 || res.Out[0].Key != "bool" {
		t.Fatalf("out %v", res.Out)
	}
	if len(res.Dead) != 2 {
		t.Fatalf("dead %d", len(res.Dead))
	}
	for _, d := range res.Dead {
		if e := d.Meta[pipeline.MetaDeadLetterError]; !strings.Contains(e, "bool") {
			t.Errorf("%s: error %q", d.Key, e)
		}
	}
}

func TestCompileErrors(t *testing.T) {
	_, err := componenttest.Build(t, pipeline.KindStage, "filter", "condition: value >")
	var ce interface{ Error() string }
	if err == nil || !errors.As(err, &ce) || !strings.Contains(err.Error(), "test.yaml:1:12") {
		t.Fatalf("err = %v", err)
	}
	if _, err := componenttest.Build(t, pipeline.KindStage, "filter", `condition: '"text"'`); err == nil {
		t.Fatal("a string condition compiled")
	}
	if _, err := componenttest.Build(t, pipeline.KindStage, "filter", ""); err == nil || !strings.Contains(err.Error(), "condition") {
		t.Fatalf("missing condition: %v", err)
	}
}
