package mqtt

import (
	"context"
	"strconv"
	"syscall"
	"testing"
	"time"

	mqttconn "github.com/edgeflow/edgeflow/connections/mqtt"
	"github.com/edgeflow/edgeflow/internal/brokertest"
	"github.com/edgeflow/edgeflow/pipeline"
	"github.com/rs/zerolog"
)

// BenchmarkSinkQoS0Batch is the sink's own cost of publishing a batch of 64
// readings at QoS 0 (encode, packets, write, wait) against a local
// mosquitto, per batch.
func BenchmarkSinkQoS0Batch(b *testing.B) {
	mq := brokertest.StartMosquitto(b, brokertest.MosquittoConfig{})
	conn, err := mqttconn.New("b", mqttconn.Options{URL: mq.URL(), ClientID: "bench-sink-q0"}, zerolog.Nop())
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close(context.Background())
	if err := conn.Start(context.Background()); err != nil {
		b.Fatal(err)
	}
	s := newSinkFor(b, conn, "{connection: b, topic: 'out/{key}', qos: 0}")
	batch := make([]*pipeline.Message, 64)
	for i := range batch {
		m := pipeline.NewMessage(nil)
		m.Key = "s" + strconv.Itoa(i)
		m.Fields = map[string]any{"sensor": m.Key, "seq": float64(i), "ts": float64(time.Now().UnixNano()), "value": 21.5}
		batch[i] = m
	}
	ctx := context.Background()
	b.ReportAllocs()
	before := cpuTime(b)
	for b.Loop() {
		if err := s.Send(ctx, batch)(); err != nil {
			b.Fatal(err)
		}
	}
	// This process's CPU (the sink, paho and the connection's flusher;
	// mosquitto is another process): on a loaded machine ns/op also counts
	// time spent waiting for a core or for the broker to read.
	b.ReportMetric(float64(cpuTime(b)-before)/float64(b.N), "cpu-ns/op")
}

func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
