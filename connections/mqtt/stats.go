package mqtt

import (
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

type counters struct {
	connects, connectFailures, connectionLost, redeliveryReconnects atomic.Uint64
	sessionLost                                                     atomic.Uint64
	received, duplicates, unrouted, blocked                         atomic.Uint64
	settled, nacked, acked, stranded                                atomic.Uint64
	published, publishFailures                                      atomic.Uint64
}

// Stats is a snapshot of a connection's counters.
type Stats struct {
	Connects             uint64 // successful connects, the first included
	ConnectFailures      uint64 // failed attempts
	ConnectionLost       uint64 // established connections that dropped
	RedeliveryReconnects uint64 // reconnects made to get unacknowledged messages back
	SessionLost          uint64 // reconnects that found the persistent session gone
	Received             uint64 // PUBLISH packets received
	Duplicates           uint64 // of which flagged DUP by the broker (likely redeliveries)
	Unrouted             uint64 // received with no running subscriber: left unacknowledged
	Blocked              uint64 // times the dispatcher waited for a subscriber's free slot
	Settled              uint64 // deliveries settled as done
	Nacked               uint64 // deliveries settled with an error: left unacknowledged
	Acked                uint64 // QoS 1/2 acknowledgements sent
	Stranded             uint64 // QoS 1/2 messages left unacknowledged for redelivery
	Published            uint64 // publishes the broker confirmed
	PublishFailures      uint64 // publishes that failed or timed out
}

// Stats returns a snapshot of the counters.
func (c *Conn) Stats() Stats {
	s := &c.stats
	return Stats{
		Connects: s.connects.Load(), ConnectFailures: s.connectFailures.Load(),
		ConnectionLost: s.connectionLost.Load(), RedeliveryReconnects: s.redeliveryReconnects.Load(),
		SessionLost: s.sessionLost.Load(),
		Received:    s.received.Load(), Duplicates: s.duplicates.Load(), Unrouted: s.unrouted.Load(),
		Blocked: s.blocked.Load(), Settled: s.settled.Load(), Nacked: s.nacked.Load(),
		Acked: s.acked.Load(), Stranded: s.stranded.Load(),
		Published: s.published.Load(), PublishFailures: s.publishFailures.Load(),
	}
}

var statHelp = map[string]string{
	"connects":              "Successful MQTT connects.",
	"connect_failures":      "Failed MQTT connection attempts.",
	"connection_lost":       "Established MQTT connections that dropped.",
	"redelivery_reconnects": "Reconnects made so the broker redelivers unacknowledged messages.",
	"session_lost":          "Reconnects that found the persistent session gone at the broker (messages it held are lost).",
	"received":              "PUBLISH packets received.",
	"duplicates":            "Received messages flagged DUP (likely redeliveries).",
	"unrouted":              "Received messages with no running subscriber (left unacknowledged).",
	"blocked":               "Times dispatch waited for a subscriber's free in-flight slot.",
	"settled":               "Deliveries settled as done.",
	"nacked":                "Deliveries settled with an error (left unacknowledged).",
	"acked":                 "QoS 1/2 acknowledgements sent.",
	"stranded":              "QoS 1/2 messages left unacknowledged for redelivery.",
	"published":             "Publishes confirmed by the broker.",
	"publish_failures":      "Publishes that failed or timed out.",
}

// Metrics returns the connection's Prometheus collector. The connection's
// name is a constant label, so that several connections register side by
// side in one registry.
func (c *Conn) Metrics() prometheus.Collector {
	descs := make(map[string]*prometheus.Desc, len(statHelp))
	for name, help := range statHelp {
		descs[name] = prometheus.NewDesc("edgeflow_mqtt_"+name+"_total", help, nil, prometheus.Labels{"connection": c.name})
	}
	return &collector{c: c, descs: descs}
}

type collector struct {
	c     *Conn
	descs map[string]*prometheus.Desc
}

// Describe implements prometheus.Collector.
func (m *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range m.descs {
		ch <- d
	}
}

// Collect implements prometheus.Collector: counters are read at scrape time.
func (m *collector) Collect(ch chan<- prometheus.Metric) {
	s := m.c.Stats()
	for name, v := range map[string]uint64{
		"connects": s.Connects, "connect_failures": s.ConnectFailures, "connection_lost": s.ConnectionLost,
		"redelivery_reconnects": s.RedeliveryReconnects, "session_lost": s.SessionLost,
		"received": s.Received, "duplicates": s.Duplicates,
		"unrouted": s.Unrouted, "blocked": s.Blocked, "settled": s.Settled, "nacked": s.Nacked,
		"acked": s.Acked, "stranded": s.Stranded, "published": s.Published, "publish_failures": s.PublishFailures,
	} {
		ch <- prometheus.MustNewConstMetric(m.descs[name], prometheus.CounterValue, float64(v))
	}
}
