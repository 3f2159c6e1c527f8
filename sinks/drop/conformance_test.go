package drop

import (
	"context"
	"testing"

	"github.com/edgeflow/edgeflow/internal/componenttest"
	"github.com/edgeflow/edgeflow/pipeline"
)

// The drop sink against the sink conformance suite: it accepts every write
// and delivers nowhere; it cannot fail and has nothing to close.
func TestConformance(t *testing.T) {
	componenttest.TestSink(t, func(t *testing.T) componenttest.SinkHarness {
		return componenttest.SinkHarness{
			Features: componenttest.SinkFeatures{Discards: true},
			New: func(t *testing.T) (pipeline.Sink, func(context.Context) error) {
				return componenttest.MustBuild(t, pipeline.KindSink, "drop", "").(pipeline.Sink), nil
			},
		}
	})
}
