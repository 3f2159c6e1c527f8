//go:build gocv

package annotate

import "github.com/prometheus/client_golang/prometheus"

// metrics are the sink's Prometheus metrics.
type metrics struct {
	frames *prometheus.CounterVec
}

func newMetrics(pipelineName, node string) *metrics {
	return &metrics{
		frames: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "edgeflow_annotate_frames_total",
			Help: "Frames by what became of them: drawn, dropped (replaced by a newer one before drawing), " +
				"idle (no file due, no stream client), error (encoding), file_error.",
			ConstLabels: prometheus.Labels{"pipeline": pipelineName, "node": node},
		}, []string{"result"}),
	}
}

func (m *metrics) Describe(ch chan<- *prometheus.Desc) { m.frames.Describe(ch) }
func (m *metrics) Collect(ch chan<- prometheus.Metric) { m.frames.Collect(ch) }
