//go:build gocv

package annotate

import (
	"context"
	"sync"
	"testing"

	"github.com/edgeflow/edgeflow/internal/componenttest"
	"github.com/edgeflow/edgeflow/pipeline"
	"github.com/edgeflow/edgeflow/vision/frame"
)

// The annotate sink against the sink conformance suite. It is a preview:
// Write hands the frame to its drawing goroutine and returns, and drawing
// or file failures are never returned, so it confirms nothing (Discards).
// What the suite checks is that writes, concurrent writes and writes racing
// Close neither fail nor hang, and that a write after Close fails.
func TestConformance(t *testing.T) {
	componenttest.TestSink(t, func(t *testing.T) componenttest.SinkHarness {
		dir := t.TempDir()
		var mu sync.Mutex
		var frames []*frame.Frame
		// The suite's messages are never settled: drop their references
		// once the sink is closed, as a camera would have.
		t.Cleanup(func() {
			mu.Lock()
			defer mu.Unlock()
			for _, f := range frames {
				f.Release()
			}
		})
		return componenttest.SinkHarness{
			Features: componenttest.SinkFeatures{Discards: true},
			New: func(t *testing.T) (pipeline.Sink, func(context.Context) error) {
				s := newTestSink(t, "{dir: "+dir+", keep: 5}")
				t.Cleanup(func() { s.Close(context.Background()) })
				return s, s.Close
			},
			Message: func(seq int) *pipeline.Message {
				f := grey(uint64(seq))
				mu.Lock()
				frames = append(frames, f)
				mu.Unlock()
				return message(f, nil)
			},
		}
	})
}
