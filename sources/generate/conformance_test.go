package generate

import (
	"strconv"
	"testing"
	"time"

	"github.com/edgeflow/edgeflow/internal/componenttest"
	"github.com/edgeflow/edgeflow/pipeline"
)

// The generate source against the source conformance suite. "Publishing"
// messages 0..n-1 sets count to n; a message's sequence number is its
// reading number, read back from its synthetic source time (one key, one
// second apart).
func TestConformance(t *testing.T) {
	start := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	componenttest.TestSource(t, func(t *testing.T) componenttest.SourceHarness {
		count := 0
		return componenttest.SourceHarness{
			Features: componenttest.SourceFeatures{Finite: true, Ordered: true},
			Publish: func(t *testing.T, seqs ...int) {
				for _, s := range seqs {
					if s != count {
						t.Fatalf("generate emits readings 0, 1, 2...; cannot publish %d after %d", s, count)
					}
					count++
				}
			},
			New: func(t *testing.T) (pipeline.Source, func()) {
				cfg := "keys: 1\nrate: 0\ncount: " + strconv.Itoa(count) + "\nstart_time: " + start.Format(time.RFC3339)
				return componenttest.MustBuild(t, pipeline.KindSource, "generate", cfg).(pipeline.Source), func() {}
			},
			Seq: func(m *pipeline.Message) (int, bool) {
				d := m.SourceTime.Sub(start)
				return int(d / time.Second), d >= 0 && d%time.Second == 0
			},
		}
	})
}
