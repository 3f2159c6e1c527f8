package stdout

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/edgeflow/edgeflow/internal/componenttest"
	"github.com/edgeflow/edgeflow/internal/syncbuf"
	"github.com/edgeflow/edgeflow/pipeline"
)

// seqs reads the conformance messages written to standard output.
func seqs(t *testing.T, out *syncbuf.Buffer) []int {
	var got []int
	for sc := bufio.NewScanner(bytes.NewReader(out.Bytes())); sc.Scan(); {
		seq, ok := componenttest.SeqOfPayload(sc.Bytes())
		if !ok {
			t.Fatalf("line %q is not a conformance message", sc.Text())
		}
		got = append(got, seq)
	}
	return got
}

// brokenPipe is standard output once its reader has gone away.
type brokenPipe struct{}

func (brokenPipe) Write([]byte) (int, error) { return 0, errors.New("write /dev/stdout: broken pipe") }

// The stdout sink against the sink conformance suite. It has nothing to
// close: standard output outlives the pipeline.
func TestConformance(t *testing.T) {
	componenttest.TestSink(t, func(t *testing.T) componenttest.SinkHarness {
		out := &syncbuf.Buffer{}
		var s *Sink
		return componenttest.SinkHarness{
			Features: componenttest.SinkFeatures{Immediate: true},
			New: func(t *testing.T) (pipeline.Sink, func(context.Context) error) {
				s = componenttest.MustBuild(t, pipeline.KindSink, "stdout", "").(*Sink)
				s.w = out
				return s, nil
			},
			Received: func(t *testing.T) []int { return seqs(t, out) },
			Break: func(*testing.T) {
				s.mu.Lock()
				defer s.mu.Unlock()
				s.w = brokenPipe{}
			},
		}
	})
}
