//go:build gocv

package camera

import "github.com/prometheus/client_golang/prometheus"

// collector exports a camera's counters to Prometheus, read from the live
// atomics at scrape time. Skipped frames per second is
// rate(edgeflow_camera_frames_total{result="skipped"}[1m]).
type collector struct {
	cam                       *Camera
	frames, opens, reconnects *prometheus.Desc
}

// Metrics returns the camera's Prometheus collector; `edgeflow run`
// registers it.
func (c *Camera) Metrics() prometheus.Collector {
	labels := prometheus.Labels{"pipeline": c.pipeline, "node": c.node, "camera": c.cfg.id}
	return &collector{
		cam: c,
		frames: prometheus.NewDesc("edgeflow_camera_frames_total",
			"Frames by what became of them: captured (read from the capture), emitted (into the pipeline), "+
				"skipped (replaced by a newer frame while the pipeline was busy), capped (dropped to hold fps), "+
				"failed (settled with an error downstream).", []string{"result"}, labels),
		opens: prometheus.NewDesc("edgeflow_camera_open_failures_total",
			"Attempts to open the capture that failed or gave no frame.", nil, labels),
		reconnects: prometheus.NewDesc("edgeflow_camera_reconnects_total",
			"Reopenings after a capture that had been delivering frames stopped.", nil, labels),
	}
}

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.frames
	ch <- c.opens
	ch <- c.reconnects
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	s := &c.cam.stats
	for _, r := range []struct {
		name string
		v    uint64
	}{
		{"captured", s.Captured.Load()}, {"emitted", s.Emitted.Load()}, {"skipped", s.Skipped.Load()},
		{"capped", s.Capped.Load()}, {"failed", s.Failed.Load()},
	} {
		ch <- prometheus.MustNewConstMetric(c.frames, prometheus.CounterValue, float64(r.v), r.name)
	}
	ch <- prometheus.MustNewConstMetric(c.opens, prometheus.CounterValue, float64(s.OpenFailures.Load()))
	ch <- prometheus.MustNewConstMetric(c.reconnects, prometheus.CounterValue, float64(s.Reconnects.Load()))
}
