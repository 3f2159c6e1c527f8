package mqtt

import (
	"context"
	"testing"
	"time"

	"github.com/edgeflow/edgeflow/internal/brokertest"
	"github.com/edgeflow/edgeflow/internal/componenttest"
	"github.com/edgeflow/edgeflow/pipeline"
)

// The mqtt source against the source conformance suite: QoS 1 on
// mosquitto, a persistent session under one client id.
func TestConformance(t *testing.T) {
	componenttest.TestSource(t, func(t *testing.T) componenttest.SourceHarness {
		b := brokertest.StartMosquitto(t, brokertest.MosquittoConfig{})
		const topic, clientID = "conformance/in", "edge-conformance"
		newSource := func(t *testing.T) (pipeline.Source, func()) {
			conn := newConn(t, b.URL(), clientID)
			src := source(t, conn, "{connection: broker, topics: ["+topic+"], qos: 1}")
			if err := conn.Start(context.Background()); err != nil {
				t.Fatal(err)
			}
			componenttest.WaitFor(t, 10*time.Second, "the mqtt connection", conn.Connected)
			return src, func() { conn.Close(context.Background()) }
		}
		// The broker keeps messages for the session only once it has the
		// subscription: make it before anything is published.
		_, closeFirst := newSource(t)
		closeFirst()
		pub := publisher(t, b.URL(), "conformance-publisher")
		return componenttest.SourceHarness{
			Features: componenttest.SourceFeatures{Acknowledges: true, Resumes: true, Ordered: true,
				RedeliveryTimeout: 2 * time.Second},
			Publish: func(t *testing.T, seqs ...int) {
				for _, s := range seqs {
					if tok := pub.Publish(topic, 1, false, componenttest.Payload(s)); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
						t.Fatalf("publish %d: %v", s, tok.Error())
					}
				}
			},
			New: newSource,
		}
	})
}
