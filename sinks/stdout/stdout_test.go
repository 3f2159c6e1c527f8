package stdout

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/edgeflow/edgeflow/internal/componenttest"
	"github.com/edgeflow/edgeflow/pipeline"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestFormats(t *testing.T) {
	for format, want := range map[string]string{
		"json":     `{"value":1}` + "\n" + `{"value":2}` + "\n",
		"envelope": `{"key":"a","fields":{"value":1}}` + "\n" + `{"key":"b","fields":{"value":2}}` + "\n",
		"raw":      "p1\np2\n",
	} {
		s := componenttest.MustBuild(t, pipeline.KindSink, "stdout", "format: "+format).(*Sink)
		var buf bytes.Buffer
		s.w = &buf
		src := componenttest.NewTrackingSource(
			&pipeline.Message{Key: "a", Payload: []byte("p1"), Fields: map[string]any{"value": 1.0}},
			&pipeline.Message{Key: "b", Payload: []byte("p2"), Fields: map[string]any{"value": 2.0}})
		p := pipeline.New(pipeline.Options{})
		if err := errors.Join(p.AddSource("src", src, pipeline.NodeOptions{}),
			p.AddSink("out", s, []string{"src"}, pipeline.NodeOptions{})); err != nil {
			t.Fatal(err)
		}
		if err := p.Run(t.Context()); err != nil {
			t.Fatal(err)
		}
		if buf.String() != want {
			t.Errorf("%s: got %q, want %q", format, buf.String(), want)
		}
		if src.Acked() != 2 {
			t.Errorf("%s: acked %d", format, src.Acked())
		}
	}
	if _, err := componenttest.Build(t, pipeline.KindSink, "stdout", "format: xml"); err == nil || !strings.Contains(err.Error(), "not one of") {
		t.Fatalf("err = %v", err)
	}
}
