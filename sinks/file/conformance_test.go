package file

import (
	"bufio"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/edgeflow/edgeflow/internal/componenttest"
	"github.com/edgeflow/edgeflow/pipeline"
)

// The file sink against the sink conformance suite: the file holds a line
// as soon as Write returns; a full disk (/dev/full) makes writes fail.
func TestConformance(t *testing.T) {
	componenttest.TestSink(t, func(t *testing.T) componenttest.SinkHarness {
		path := filepath.Join(t.TempDir(), "out.jsonl")
		var s *Sink
		return componenttest.SinkHarness{
			Features: componenttest.SinkFeatures{Immediate: true},
			New: func(t *testing.T) (pipeline.Sink, func(context.Context) error) {
				s = componenttest.MustBuild(t, pipeline.KindSink, "file", "path: "+path).(*Sink)
				t.Cleanup(func() { s.Close(context.Background()) })
				return s, s.Close
			},
			Received: func(t *testing.T) []int {
				f, err := os.Open(path)
				if os.IsNotExist(err) {
					return nil
				}
				if err != nil {
					t.Fatal(err)
				}
				defer f.Close()
				var got []int
				for sc := bufio.NewScanner(f); sc.Scan(); {
					seq, ok := componenttest.SeqOfPayload(sc.Bytes())
					if !ok {
						t.Fatalf("line %q is not a conformance message", sc.Text())
					}
					got = append(got, seq)
				}
				return got
			},
			// The disk fills up: the open file now writes to /dev/full.
			Break: func(t *testing.T) {
				full, err := os.OpenFile("/dev/full", os.O_WRONLY, 0)
				if err != nil {
					t.Fatal(err)
				}
				s.mu.Lock()
				defer s.mu.Unlock()
				s.f.Close()
				s.f = full
			},
		}
	})
}
