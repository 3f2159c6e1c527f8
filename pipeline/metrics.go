package pipeline

import "github.com/prometheus/client_golang/prometheus"

// Metrics returns a collector for the pipeline's per-node metrics. Counters
// are read from the engine's atomics at scrape time, so the hot path pays no
// label lookups. Register it with a prometheus.Registry.
func (p *Pipeline) Metrics() prometheus.Collector { return (*collector)(p) }

type collector Pipeline

var (
	nodeLabels   = []string{"node", "kind"}
	descReceived = prometheus.NewDesc("edgeflow_node_received_total",
		"Messages a node took from its input (sources: messages produced).", append(nodeLabels, "pipeline"), nil)
	descEmitted = prometheus.NewDesc("edgeflow_node_emitted_total",
		"Messages a node sent downstream.", append(nodeLabels, "pipeline"), nil)
	descDropped = prometheus.NewDesc("edgeflow_node_dropped_total",
		"Messages the node's input queue dropped by its overflow policy.", append(nodeLabels, "pipeline"), nil)
	descErrors = prometheus.NewDesc("edgeflow_node_errors_total",
		"Messages that failed in a node (dead-lettered or nacked).", append(nodeLabels, "pipeline"), nil)
	descDepth = prometheus.NewDesc("edgeflow_node_queue_depth",
		"Messages waiting in the node's input queue.", append(nodeLabels, "pipeline"), nil)
	descCapacity = prometheus.NewDesc("edgeflow_node_queue_capacity",
		"Capacity of the node's input queue.", append(nodeLabels, "pipeline"), nil)
	descAcked = prometheus.NewDesc("edgeflow_source_acked_total",
		"Source messages settled as delivered (including filtered, dropped and dead-lettered ones).", append(nodeLabels, "pipeline"), nil)
	descNacked = prometheus.NewDesc("edgeflow_source_nacked_total",
		"Source messages settled as failed.", append(nodeLabels, "pipeline"), nil)
)

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descReceived, descEmitted, descDropped, descErrors, descDepth, descCapacity, descAcked, descNacked} {
		ch <- d
	}
	c.latency.Describe(ch)
	c.e2e.Describe(ch)
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	p := (*Pipeline)(c)
	for _, n := range p.order {
		s, _ := p.Stats(n.name)
		labels := []string{n.name, n.kind.String(), p.opts.Name}
		counter := func(d *prometheus.Desc, v uint64) {
			ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
		}
		counter(descReceived, s.Received)
		counter(descEmitted, s.Emitted)
		counter(descErrors, s.Errors)
		if n.kind == KindSource {
			counter(descAcked, s.Acked)
			counter(descNacked, s.Nacked)
			continue
		}
		counter(descDropped, s.Dropped)
		ch <- prometheus.MustNewConstMetric(descDepth, prometheus.GaugeValue, float64(s.QueueDepth), labels...)
		ch <- prometheus.MustNewConstMetric(descCapacity, prometheus.GaugeValue, float64(s.QueueCapacity), labels...)
	}
	c.latency.Collect(ch)
	c.e2e.Collect(ch)
}
