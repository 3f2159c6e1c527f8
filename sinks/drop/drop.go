// Package drop is the `drop` sink: it discards every message and
// acknowledges it, for benchmarks and for branches whose only purpose is a
// side effect upstream.
package drop

import (
	"context"

	"github.com/edgeflow/edgeflow/component"
	"github.com/edgeflow/edgeflow/pipeline"
)

func init() {
	component.Register(component.Spec{
		Kind:    pipeline.KindSink,
		Name:    "drop",
		Summary: "Discard messages (and acknowledge them).",
		Description: `Accepts every message and does nothing with it; its sources are acknowledged at
once. Useful for benchmarking a pipeline without output costs, and as the end of
a branch that exists only for its metrics.`,
		Batching: true,
		Example: `sinks:
  nowhere:
    type: drop
    input: scores`,
		New: func(*component.Config, *component.Resources) (any, error) { return Sink{}, nil },
	})
}

// Sink is the drop sink.
type Sink struct{}

// Write implements pipeline.Sink.
func (Sink) Write(context.Context, *pipeline.Message) error { return nil }

// WriteBatch implements pipeline.BatchSink.
func (Sink) WriteBatch(context.Context, []*pipeline.Message) error { return nil }
