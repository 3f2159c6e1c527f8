package anomaly_test

import (
	"math"
	"testing"

	"github.com/edgeflow/edgeflow/anomaly/sim"
	"github.com/edgeflow/edgeflow/internal/anomalytest"
	"github.com/edgeflow/edgeflow/models/modeltest"
)

// trainModel does what demo.sh does with `edgeflow model train anomaly
// --synthetic 20000 --seed 1`: it pre-trains on synthetic series and writes
// the int8 model, returning its path.
func trainModel(t testing.TB) string {
	t.Helper()
	modeltest.RequireRuntime(t)
	return anomalytest.Model(t, t.TempDir())
}

// windowSummary is what an alert says about its window, as the pipeline's
// `alerts` map stage rounds it.
type windowSummary struct{ last, lo, hi float64 }

func round3(v float64) float64 { return math.Round(v*1000) / 1000 }

// summaries lists, for each reading index of a series, the summary of the
// window of 16 ending there (float32, as the window stage holds values).
func summaries(rows []sim.Reading) []windowSummary {
	out := make([]windowSummary, len(rows))
	for i := 15; i < len(rows); i++ {
		lo, hi := math.Inf(1), math.Inf(-1)
		for _, r := range rows[i-15 : i+1] {
			v := float64(float32(r.Value))
			lo, hi = min(lo, v), max(hi, v)
		}
		out[i] = windowSummary{round3(float64(float32(rows[i].Value))), round3(lo), round3(hi)}
	}
	return out
}

// locate returns the reading index whose window an alert describes, or -1.
func locate(sums []windowSummary, s windowSummary) int {
	const tol = 1.5e-3
	for i := len(sums) - 1; i >= 15; i-- {
		w := sums[i]
		if math.Abs(w.last-s.last) < tol && math.Abs(w.lo-s.lo) < tol && math.Abs(w.hi-s.hi) < tol {
			return i
		}
	}
	return -1
}
