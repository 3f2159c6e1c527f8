package onnx

import (
	"sync/atomic"

	"github.com/edgeflow/edgeflow/models"
	"github.com/prometheus/client_golang/prometheus"
)

// metrics are one stage's Prometheus metrics, labelled with its pipeline and
// node. The stage hands them out through Stage.Metrics.
type metrics struct {
	queue     *histogram // nanoseconds
	inference *histogram // nanoseconds
	batch     *histogram // messages
	failed    prometheus.Counter
	reloads   *prometheus.Desc
	model     atomic.Pointer[models.Model] // set once loaded; read at scrape time
}

func newMetrics(pipelineName, node string) *metrics {
	labels := prometheus.Labels{"pipeline": pipelineName, "node": node}
	return &metrics{
		queue: newHistogram("edgeflow_onnx_queue_seconds",
			"Time from a message's ingest to the start of the model run that takes it "+
				"(upstream stages and this stage's queue and batching delay).",
			labels, prometheus.ExponentialBuckets(1e-5, 4, 10), 1e-9), // 10µs .. 2.6s
		inference: newHistogram("edgeflow_onnx_inference_seconds",
			"Duration of one ONNX Runtime run (one batch).",
			labels, prometheus.ExponentialBuckets(1e-5, 4, 10), 1e-9),
		batch: newHistogram("edgeflow_onnx_batch_size", "Messages per model run.",
			labels, []float64{1, 2, 4, 8, 16, 32, 64, 128, 256}, 1),
		failed: prometheus.NewCounter(prometheus.CounterOpts{
			Name:        "edgeflow_onnx_failed_total",
			Help:        "Messages the stage failed (bad inputs, run errors, model unavailable).",
			ConstLabels: labels,
		}),
		reloads: prometheus.NewDesc("edgeflow_onnx_reloads_total",
			"Model reloads by result (ok, rejected).", []string{"result"}, labels),
	}
}

func (m *metrics) Describe(ch chan<- *prometheus.Desc) {
	m.queue.Describe(ch)
	m.inference.Describe(ch)
	m.batch.Describe(ch)
	m.failed.Describe(ch)
	ch <- m.reloads
}

func (m *metrics) Collect(ch chan<- prometheus.Metric) {
	m.queue.Collect(ch)
	m.inference.Collect(ch)
	m.batch.Collect(ch)
	m.failed.Collect(ch)
	var ok, rejected uint64
	if model := m.model.Load(); model != nil {
		ok, rejected = model.Reloads()
	}
	ch <- prometheus.MustNewConstMetric(m.reloads, prometheus.CounterValue, float64(ok), "ok")
	ch <- prometheus.MustNewConstMetric(m.reloads, prometheus.CounterValue, float64(rejected), "rejected")
}
