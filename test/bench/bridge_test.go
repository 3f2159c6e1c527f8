package bench

import (
	"context"
	"encoding/binary"
	"fmt"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/nats-io/nats.go"
	"github.com/rs/zerolog"

	"github.com/edgeflow/edgeflow/config"
	"github.com/edgeflow/edgeflow/internal/brokertest"
)

// BenchmarkMQTTToNATS bridges real Mosquitto to a real nats-server on
// loopback, through edgeflow (mqtt source -> nats sink, acknowledging each
// MQTT message only after NATS has it) and through the plainest hand-written
// bridge (a paho handler that publishes to NATS, acknowledged on receipt).
// Both run in the same process and the same run, against fresh brokers.
//
//	go test ./test/bench -run '^$' -bench MQTTToNATS -benchtime 20000x
func BenchmarkMQTTToNATS(b *testing.B) {
	for _, qos := range []byte{0, 1} {
		b.Run(fmt.Sprintf("qos=%d/edgeflow", qos), func(b *testing.B) { benchBridge(b, qos, startEdgeflowBridge) })
		b.Run(fmt.Sprintf("qos=%d/handwritten", qos), func(b *testing.B) { benchBridge(b, qos, startHandwrittenBridge) })
	}
}

type bridgeStarter func(b *testing.B, mqttURL, natsURL string, qos byte) (stop func())

func benchBridge(b *testing.B, qos byte, start bridgeStarter) {
	mq := brokertest.StartMosquitto(b, brokertest.MosquittoConfig{MaxInflight: 1000})
	ns := brokertest.StartNATS(b, brokertest.NATSConfig{})

	// The receiver records each message's latency from publish time.
	nc, err := nats.Connect(ns.URL())
	if err != nil {
		b.Fatal(err)
	}
	defer nc.Close()
	latencies := make([]time.Duration, b.N)
	var received, warmed atomic.Int64
	all := make(chan struct{})
	sub, err := nc.Subscribe("out", func(m *nats.Msg) {
		if len(m.Data) < 9 {
			return
		}
		if m.Data[8] == 0 { // a warm-up message
			warmed.Add(1)
			return
		}
		sent := int64(binary.LittleEndian.Uint64(m.Data))
		if n := received.Add(1); n <= int64(b.N) {
			latencies[n-1] = time.Duration(time.Now().UnixNano() - sent)
			if n == int64(b.N) {
				close(all)
			}
		}
	})
	if err != nil {
		b.Fatal(err)
	}
	defer sub.Unsubscribe()
	_ = sub.SetPendingLimits(-1, -1)
	nc.Flush()

	stop := start(b, mq.URL(), ns.URL(), qos)
	defer stop()
	pub := connectMQTT(b, mq.URL(), "bench-publisher", true)
	defer pub.Disconnect(100)
	waitBridgeReady(b, pub, qos, &warmed)

	b.ResetTimer()
	payload := make([]byte, 64) // a small sensor reading
	payload[8] = 1              // measured, not warm-up
	var tokens []paho.Token
	for i := 0; i < b.N; i++ {
		binary.LittleEndian.PutUint64(payload, uint64(time.Now().UnixNano()))
		tokens = append(tokens, pub.Publish("in", qos, false, slices.Clone(payload)))
		if len(tokens) == 500 { // keep the publisher's own window bounded
			waitTokens(b, tokens)
			tokens = tokens[:0]
		}
	}
	waitTokens(b, tokens)
	select {
	case <-all:
	case <-time.After(60 * time.Second):
		b.Fatalf("only %d of %d messages arrived", received.Load(), b.N)
	}
	b.StopTimer()
	slices.Sort(latencies)
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
	b.ReportMetric(float64(latencies[len(latencies)/2].Microseconds())/1000, "p50_ms")
	b.ReportMetric(float64(latencies[len(latencies)*99/100].Microseconds())/1000, "p99_ms")
}

// waitBridgeReady publishes warm-up messages until one comes out the other
// side, so that subscriptions are in place before the clock starts.
func waitBridgeReady(b *testing.B, pub paho.Client, qos byte, warmed *atomic.Int64) {
	deadline := time.Now().Add(20 * time.Second)
	for warmed.Load() == 0 {
		if time.Now().After(deadline) {
			b.Fatal("the bridge never forwarded a warm-up message")
		}
		warm := make([]byte, 64)
		binary.LittleEndian.PutUint64(warm, uint64(time.Now().UnixNano()))
		pub.Publish("in", qos, false, warm).WaitTimeout(time.Second)
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond) // let stray warm-ups land
}

func waitTokens(b *testing.B, tokens []paho.Token) {
	for _, t := range tokens {
		if !t.WaitTimeout(30*time.Second) || t.Error() != nil {
			b.Fatalf("publish: %v", t.Error())
		}
	}
}

func connectMQTT(b *testing.B, url, id string, clean bool) paho.Client {
	opts := paho.NewClientOptions().AddBroker(url).SetClientID(id).SetCleanSession(clean).
		SetMaxResumePubInFlight(1000)
	c := paho.NewClient(opts)
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		b.Fatalf("mqtt connect: %v", tok.Error())
	}
	return c
}

func startEdgeflowBridge(b *testing.B, mqttURL, natsURL string, qos byte) func() {
	yaml := fmt.Sprintf(`
name: bridge
connections:
  plant: {type: mqtt, url: %s, client_id: bench-edgeflow, clean_session: true}
  bus: {type: nats, url: %s}
sources:
  readings: {type: mqtt, connection: plant, topics: [in], qos: %d, codec: raw, max_in_flight: 1000}
sinks:
  forward: {type: nats, connection: bus, input: readings, subject: out, codec: raw, headers: false}
`, mqttURL, natsURL, qos)
	f, err := config.Parse([]byte(yaml), "bridge.yaml")
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	built, err := f.Build(ctx, config.BuildOptions{Logger: zerolog.Nop()})
	if err != nil {
		b.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- built.Pipeline.Run(ctx) }()
	return func() {
		cancel()
		if err := <-done; err != nil {
			b.Error(err)
		}
		built.Close(context.Background())
	}
}

func startHandwrittenBridge(b *testing.B, mqttURL, natsURL string, qos byte) func() {
	nc, err := nats.Connect(natsURL)
	if err != nil {
		b.Fatal(err)
	}
	c := connectMQTT(b, mqttURL, "bench-handwritten", true)
	tok := c.Subscribe("in", qos, func(_ paho.Client, m paho.Message) {
		_ = nc.Publish("out", m.Payload())
	})
	if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		b.Fatalf("subscribe: %v", tok.Error())
	}
	return func() {
		c.Disconnect(100)
		nc.Close()
	}
}
