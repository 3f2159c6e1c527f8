package nats

import (
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// jsStats count what a JetStream source did with its deliveries.
type jsStats struct {
	delivered, redelivered        atomic.Uint64
	acks, naks, terms, ackFailure atomic.Uint64
	pending                       atomic.Uint64 // the consumer's backlog, as of the last delivery
}

// received counts a delivery; numDelivered > 1 is a redelivery, and
// pending is what the server still holds for the consumer.
func (s *jsStats) received(numDelivered, pending uint64) {
	s.delivered.Add(1)
	if numDelivered > 1 {
		s.redelivered.Add(1)
	}
	s.pending.Store(pending)
}

// settled counts an ack ("ack", "double ack"), nak or term, or its failure.
func (s *jsStats) settled(what string, err error) {
	switch {
	case err != nil:
		s.ackFailure.Add(1)
	case what == "nak":
		s.naks.Add(1)
	case what == "term":
		s.terms.Add(1)
	default:
		s.acks.Add(1)
	}
}

var (
	jsLabels         = []string{"connection", "node", "stream"}
	descDelivered    = prometheus.NewDesc("edgeflow_nats_jetstream_delivered_total", "JetStream deliveries the source received.", jsLabels, nil)
	descRedelivered  = prometheus.NewDesc("edgeflow_nats_jetstream_redelivered_total", "Of which redeliveries (delivered before and not acknowledged).", jsLabels, nil)
	descAcks         = prometheus.NewDesc("edgeflow_nats_jetstream_acks_total", "Deliveries acknowledged.", jsLabels, nil)
	descNaks         = prometheus.NewDesc("edgeflow_nats_jetstream_naks_total", "Deliveries negatively acknowledged (redelivered later).", jsLabels, nil)
	descTerms        = prometheus.NewDesc("edgeflow_nats_jetstream_terms_total", "Deliveries terminated after they were dead-lettered.", jsLabels, nil)
	descAckFailures  = prometheus.NewDesc("edgeflow_nats_jetstream_ack_failures_total", "Acks, naks or terms the server did not get (it redelivers after ack_wait).", jsLabels, nil)
	descPending      = prometheus.NewDesc("edgeflow_nats_jetstream_pending", "Messages the consumer has yet to deliver, as of the last delivery.", jsLabels, nil)
	descAckPending   = prometheus.NewDesc("edgeflow_nats_jetstream_ack_pending", "Deliveries in the pipeline, not yet acknowledged.", jsLabels, nil)
	jetstreamMetrics = []*prometheus.Desc{descDelivered, descRedelivered, descAcks, descNaks, descTerms, descAckFailures, descPending, descAckPending}
)

// Metrics returns the JetStream consumer's metrics (nil for core NATS),
// which `edgeflow run` registers next to the pipeline's.
func (s *Source) Metrics() prometheus.Collector {
	if s.js == nil {
		return nil
	}
	return jsCollector{s}
}

type jsCollector struct{ s *Source }

func (c jsCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range jetstreamMetrics {
		ch <- d
	}
}

func (c jsCollector) Collect(ch chan<- prometheus.Metric) {
	st := &c.s.js.stats
	labels := []string{c.s.connName, c.s.node, c.s.js.stream}
	for d, v := range map[*prometheus.Desc]uint64{
		descDelivered: st.delivered.Load(), descRedelivered: st.redelivered.Load(),
		descAcks: st.acks.Load(), descNaks: st.naks.Load(), descTerms: st.terms.Load(),
		descAckFailures: st.ackFailure.Load(),
	} {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	ch <- prometheus.MustNewConstMetric(descPending, prometheus.GaugeValue, float64(st.pending.Load()), labels...)
	ch <- prometheus.MustNewConstMetric(descAckPending, prometheus.GaugeValue, float64(c.s.InFlight()), labels...)
}
