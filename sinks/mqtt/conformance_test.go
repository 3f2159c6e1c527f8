package mqtt

import (
	"context"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	mqttconn "github.com/edgeflow/edgeflow/connections/mqtt"
	"github.com/edgeflow/edgeflow/internal/brokertest"
	"github.com/edgeflow/edgeflow/internal/componenttest"
	"github.com/edgeflow/edgeflow/pipeline"
	"github.com/rs/zerolog"
)

// The mqtt sink against the sink conformance suite: QoS 1 to mosquitto,
// received by a QoS 1 subscriber.
func TestConformance(t *testing.T) {
	componenttest.TestSink(t, func(t *testing.T) componenttest.SinkHarness {
		b := brokertest.StartMosquitto(t, brokertest.MosquittoConfig{})
		const topic = "conformance/out"
		var mu sync.Mutex
		var got []int
		sub := paho.NewClient(paho.NewClientOptions().AddBroker(b.URL()).SetClientID("conformance-check").
			SetCleanSession(true).SetAutoReconnect(false))
		if tok := sub.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
			t.Fatalf("subscriber: %v", tok.Error())
		}
		t.Cleanup(func() { sub.Disconnect(100) })
		if tok := sub.Subscribe(topic, 1, func(_ paho.Client, m paho.Message) {
			if seq, ok := componenttest.SeqOfPayload(m.Payload()); ok {
				mu.Lock()
				got = append(got, seq)
				mu.Unlock()
			}
		}); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
			t.Fatalf("subscribe: %v", tok.Error())
		}
		return componenttest.SinkHarness{
			New: func(t *testing.T) (pipeline.Sink, func(context.Context) error) {
				// ConnectTimeout is also paho's write timeout, which bounds a
				// publish that races a disconnect (CloseDrains), whatever
				// publish_timeout says.
				conn, err := mqttconn.New("b", mqttconn.Options{URL: b.URL(), ClientID: "edge-sink", ConnectTimeout: 2 * time.Second,
					ReconnectMin: 50 * time.Millisecond, ReconnectMax: 500 * time.Millisecond}, zerolog.Nop())
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { conn.Close(context.Background()) })
				if err := conn.Start(context.Background()); err != nil {
					t.Fatal(err)
				}
				return newSinkFor(t, conn, "{connection: b, topic: "+topic+", publish_timeout: 1s}"), conn.Close
			},
			Received: func(*testing.T) []int {
				mu.Lock()
				defer mu.Unlock()
				return append([]int(nil), got...)
			},
			Break: func(*testing.T) { b.Kill() },
		}
	})
}
