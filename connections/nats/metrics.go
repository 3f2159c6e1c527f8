package nats

import "github.com/prometheus/client_golang/prometheus"

// Connection metrics, read at scrape time from the client's own counters
// and the connection's event counters, labelled with the connection's name
// in the pipeline file.
var (
	connLabels    = []string{"connection"}
	descInMsgs    = prometheus.NewDesc("edgeflow_nats_in_msgs_total", "Messages the NATS client received.", connLabels, nil)
	descOutMsgs   = prometheus.NewDesc("edgeflow_nats_out_msgs_total", "Messages the NATS client sent.", connLabels, nil)
	descInBytes   = prometheus.NewDesc("edgeflow_nats_in_bytes_total", "Payload bytes the NATS client received.", connLabels, nil)
	descOutBytes  = prometheus.NewDesc("edgeflow_nats_out_bytes_total", "Payload bytes the NATS client sent.", connLabels, nil)
	descReconn    = prometheus.NewDesc("edgeflow_nats_reconnects_total", "Times the NATS client reconnected.", connLabels, nil)
	descDisconn   = prometheus.NewDesc("edgeflow_nats_disconnects_total", "Times the NATS client lost its connection.", connLabels, nil)
	descSlow      = prometheus.NewDesc("edgeflow_nats_slow_consumers_total", "Slow consumer errors (a subscription's pending buffer overflowed).", connLabels, nil)
	descConnected = prometheus.NewDesc("edgeflow_nats_connected", "1 while the NATS client is connected, else 0.", connLabels, nil)
)

// Describe implements prometheus.Collector. It describes nothing, which
// makes the connection an unchecked collector: the descriptors are shared
// by every nats connection (the connection is a label), and a registry
// refuses a second collector that describes the same ones, which would
// keep a pipeline with two nats connections from starting.
func (c *Conn) Describe(chan<- *prometheus.Desc) {}

// Collect implements prometheus.Collector.
func (c *Conn) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	nc := c.nc
	c.mu.Unlock()
	counter := func(d *prometheus.Desc, v uint64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), c.key)
	}
	connected := 0.0
	if nc != nil {
		st := nc.Stats()
		counter(descInMsgs, st.InMsgs)
		counter(descOutMsgs, st.OutMsgs)
		counter(descInBytes, st.InBytes)
		counter(descOutBytes, st.OutBytes)
		if nc.IsConnected() {
			connected = 1
		}
	}
	s := c.Stats()
	counter(descReconn, s.Reconnects)
	counter(descDisconn, s.Disconnects)
	counter(descSlow, s.SlowConsumers)
	ch <- prometheus.MustNewConstMetric(descConnected, prometheus.GaugeValue, connected, c.key)
}
