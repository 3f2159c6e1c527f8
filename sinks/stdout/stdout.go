// Package stdout is the `stdout` sink: one line per message on standard
// output.
package stdout

import (
	"context"
	"fmt"
	"io"
	"os"
	"sync"

	"github.com/edgeflow/edgeflow/codec"
	"github.com/edgeflow/edgeflow/component"
	"github.com/edgeflow/edgeflow/pipeline"
)

func init() {
	component.Register(component.Spec{
		Kind:    pipeline.KindSink,
		Name:    "stdout",
		Summary: "Print one line per message to standard output.",
		Description: `Writes each message as one line. ` + "`format`" + ` chooses the encoding:

- ` + "`json`" + ` (default): the fields as a JSON object (NaN and infinities as null);
- ` + "`envelope`" + `: the whole message (key, topic, times, meta, fields) as JSON, handy as
  a dead-letter sink or for debugging;
- ` + "`raw`" + `: the payload bytes as they are.

Batches are written with one system call. A message that cannot be encoded fails
alone and for good (it goes to the dead-letter sink); the rest of its batch is
written.`,
		Fields: []component.Field{
			{Name: "format", Type: component.String, Default: "json", Enum: codec.EncoderNames(),
				Description: "How each message is written: json, envelope or raw."},
		},
		Batching: true,
		Example: `sinks:
  console:
    type: stdout
    input: alerts
    format: envelope`,
		New: func(conf *component.Config, _ *component.Resources) (any, error) {
			enc, err := codec.NewEncoder(conf.String("format"))
			if err != nil {
				return nil, conf.Errorf("format", "%v", err)
			}
			return &Sink{enc: enc, w: os.Stdout}, nil
		},
	})
}

// Sink is the stdout sink.
type Sink struct {
	enc codec.Encoder
	mu  sync.Mutex
	w   io.Writer
	buf []byte
}

// Write implements pipeline.Sink.
func (s *Sink) Write(ctx context.Context, m *pipeline.Message) error {
	return s.WriteBatch(ctx, []*pipeline.Message{m})
}

// WriteBatch implements pipeline.BatchSink. A message that cannot be
// encoded never will be: it fails alone and permanently, so it goes to the
// dead-letter sink, and the others are written.
func (s *Sink) WriteBatch(_ context.Context, batch []*pipeline.Message) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var bad []error
	s.buf, bad = codec.AppendLines(s.buf[:0], s.enc, batch, "stdout")
	if len(s.buf) > 0 {
		if _, err := s.w.Write(s.buf); err != nil {
			return fmt.Errorf("stdout: %w", err)
		}
	}
	if bad != nil {
		return &pipeline.BatchError{Errs: bad}
	}
	return nil
}
