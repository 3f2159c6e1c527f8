package nats_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/edgeflow/edgeflow/internal/brokertest"
	"github.com/edgeflow/edgeflow/internal/componenttest"
	"github.com/edgeflow/edgeflow/pipeline"
	"github.com/nats-io/nats.go/jetstream"
)

const conformanceSubject = "conformance.in"

// natsHarness is a source harness on its own nats-server; cfg is the
// source's YAML after its connection.
func natsHarness(t *testing.T, jetStream bool, cfg string) (componenttest.SourceHarness, jetstream.JetStream) {
	b := brokertest.StartNATS(t, brokertest.NATSConfig{JetStream: jetStream})
	nc, js := admin(t, b.URL())
	return componenttest.SourceHarness{
		Publish: func(t *testing.T, seqs ...int) {
			for _, s := range seqs {
				if err := nc.Publish(conformanceSubject, componenttest.Payload(s)); err != nil {
					t.Fatalf("publish %d: %v", s, err)
				}
			}
			if err := nc.Flush(); err != nil {
				t.Fatal(err)
			}
		},
		New: func(t *testing.T) (pipeline.Source, func()) {
			conn := startConn(t, "url: "+b.URL())
			src, err := newSource(t, conn, cfg)
			if err != nil {
				t.Fatal(err)
			}
			return src, func() { conn.Close(context.Background()) }
		},
	}, js
}

// Core NATS: at most once, nothing to acknowledge.
func TestConformanceCore(t *testing.T) {
	componenttest.TestSource(t, func(t *testing.T) componenttest.SourceHarness {
		h, _ := natsHarness(t, false, "subjects: ["+conformanceSubject+"]")
		h.Features = componenttest.SourceFeatures{Live: true, Ordered: true}
		return h
	})
}

// JetStream: a durable pull consumer, acknowledged after delivery; the
// broker's NumAckPending shows what is not acknowledged yet.
func TestConformanceJetStream(t *testing.T) {
	componenttest.TestSource(t, func(t *testing.T) componenttest.SourceHarness {
		h, js := natsHarness(t, true, "subjects: ["+conformanceSubject+"]\n"+
			"jetstream: {stream: CONF, durable: conformance, create_stream: false, ack_wait: 1s, nak_delay: 100ms}")
		createStream(t, js, "CONF", conformanceSubject)
		h.Features = componenttest.SourceFeatures{Acknowledges: true, Resumes: true, Ordered: true,
			RedeliveryTimeout: 3 * time.Second}
		h.Unacked = func(t *testing.T) int {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			cons, err := js.Consumer(ctx, "CONF", "conformance")
			if errors.Is(err, jetstream.ErrConsumerNotFound) {
				return 0
			}
			if err != nil {
				t.Fatalf("consumer info: %v", err)
			}
			info, err := cons.Info(ctx)
			if err != nil {
				t.Fatalf("consumer info: %v", err)
			}
			return info.NumAckPending
		}
		return h
	})
}
