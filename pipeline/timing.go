package pipeline

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// stopwatch times a node's work for its latency histogram. Reading the clock
// costs up to a hundred nanoseconds on some virtual machines, as much as the
// engine spends moving a message, so calls that prove fast are sampled: after
// a call under fastCall only one in sampleEvery is timed. Slow work (model
// runs, network writes) is timed every time. One stopwatch per goroutine.
// It reads only the monotonic clock (time.Since of clockBase, one vDSO
// call) rather than time.Now, which reads the wall clock as well.
type stopwatch struct {
	hist  prometheus.Observer
	skip  int
	start time.Duration // since clockBase
	quick bool          // the last timed call took under quickCall
}

// clockBase anchors the stopwatches' monotonic readings.
var clockBase = time.Now()

const (
	fastCall    = 20 * time.Microsecond
	sampleEvery = 16
	// quickCall bounds the calls after which a stage may defer waking
	// its downstream consumers, by up to coalesceMax messages.
	quickCall = 250 * time.Microsecond
)

// begin reports whether this call is timed; if so, it starts the clock.
func (s *stopwatch) begin() bool {
	if s.skip > 0 {
		s.skip--
		return false
	}
	s.start = time.Since(clockBase)
	return true
}

// end stops a timed call and records it.
func (s *stopwatch) end() {
	d := time.Since(clockBase) - s.start
	s.hist.Observe(d.Seconds())
	s.quick = d < quickCall
	if d < fastCall {
		s.skip = sampleEvery - 1
	}
}
