package drop

import (
	"errors"
	"testing"

	"github.com/edgeflow/edgeflow/internal/componenttest"
	"github.com/edgeflow/edgeflow/pipeline"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestDropAcks(t *testing.T) {
	var msgs []*pipeline.Message
	for range 100 {
		msgs = append(msgs, &pipeline.Message{})
	}
	src := componenttest.NewTrackingSource(msgs...)
	p := pipeline.New(pipeline.Options{})
	if err := errors.Join(p.AddSource("src", src, pipeline.NodeOptions{}),
		p.AddSink("out", componenttest.MustBuild(t, pipeline.KindSink, "drop", "").(pipeline.Sink), []string{"src"}, pipeline.NodeOptions{})); err != nil {
		t.Fatal(err)
	}
	if err := p.Run(t.Context()); err != nil {
		t.Fatal(err)
	}
	if src.Acked() != 100 || src.Nacked() != 0 {
		t.Fatalf("acked %d nacked %d", src.Acked(), src.Nacked())
	}
}
