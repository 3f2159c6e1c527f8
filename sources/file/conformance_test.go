package file

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/edgeflow/edgeflow/internal/componenttest"
	"github.com/edgeflow/edgeflow/pipeline"
)

// The file source against the source conformance suite: a JSON Lines file
// that Publish appends to, replayed at full speed. It has no broker to
// acknowledge to, and ends at the end of the file.
func TestConformance(t *testing.T) {
	componenttest.TestSource(t, func(t *testing.T) componenttest.SourceHarness {
		path := filepath.Join(t.TempDir(), "in.jsonl")
		return componenttest.SourceHarness{
			Features: componenttest.SourceFeatures{Finite: true, Ordered: true},
			Publish: func(t *testing.T, seqs ...int) {
				f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
				if err != nil {
					t.Fatal(err)
				}
				defer f.Close()
				for _, s := range seqs {
					if _, err := f.Write(append(componenttest.Payload(s), '\n')); err != nil {
						t.Fatal(err)
					}
				}
			},
			New: func(t *testing.T) (pipeline.Source, func()) {
				return src(t, "path: "+path), func() {}
			},
		}
	})
}
