package bench

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/edgeflow/edgeflow/config"
	"github.com/edgeflow/edgeflow/internal/brokertest"
)

// BenchmarkJetStreamSourceSubjects drains a stream of 100 per-sensor
// subjects through the JetStream source (-> drop), on the distribution's
// nats-server and on the version edgeflow embeds, with the source reading
// the whole stream (no consumer filter) and with a wildcard filter over the
// 100 subjects (the stream also holds another subject tree).
//
//	go test ./test/bench -run '^$' -bench JetStreamSourceSubjects -benchtime 1x
func BenchmarkJetStreamSourceSubjects(b *testing.B) {
	for _, server := range []string{"debian", "embedded"} {
		for _, filter := range []string{"none", "wildcard"} {
			b.Run("server="+server+"/filter="+filter, func(b *testing.B) {
				cfg := brokertest.NATSConfig{JetStream: true}
				if server == "embedded" {
					cfg.Binary = brokertest.EmbeddedNATSServer(b)
				}
				srv := brokertest.StartNATS(b, cfg)
				subjects := []string{"in.>"}
				if filter == "wildcard" {
					subjects = append(subjects, "aux.>")
				}
				n := 30000
				if filter == "wildcard" && server == "debian" {
					n = 5000 // ~500 msgs/s: keep the run short
				}
				js := fillStream(b, srv.URL(), subjects, n)
				b.ResetTimer()
				for i := range b.N {
					rate := drain(b, js, []string{srv.URL()}, fmt.Sprint("d", i), n)
					b.ReportMetric(rate, "msgs/s")
				}
			})
		}
	}
}

// BenchmarkScaleOutInstances drains one stream with 1, 2 and 3 pipeline
// instances sharing one durable, interleaved in each iteration (so that
// load from other jobs hits all three alike). Each instance has its own
// connection and pipeline, in this process; each message goes through an
// expression map. The nats-server (the version edgeflow embeds) runs on the
// same cores.
//
//	go test ./test/bench -run '^$' -bench ScaleOutInstances -benchtime 3x
func BenchmarkScaleOutInstances(b *testing.B) {
	srv := brokertest.StartNATS(b, brokertest.NATSConfig{JetStream: true, Binary: brokertest.EmbeddedNATSServer(b)})
	const n = 60000
	js := fillStream(b, srv.URL(), []string{"in.>"}, n)
	var sum [4]float64
	b.ResetTimer()
	for i := range b.N {
		for k := 1; k <= 3; k++ {
			urls := make([]string, k)
			for j := range urls {
				urls[j] = srv.URL()
			}
			sum[k] += drain(b, js, urls, fmt.Sprintf("k%d_%d", k, i), n)
		}
	}
	for k := 1; k <= 3; k++ {
		b.ReportMetric(sum[k]/float64(b.N), fmt.Sprintf("msgs/s_%d_instances", k))
	}
	b.ReportMetric(sum[3]/sum[1], "ratio_3_to_1")
}

// fillStream creates stream IN over subjects and stores n readings on 100
// subjects in.s0 .. in.s99.
func fillStream(b *testing.B, url string, subjects []string, n int) jetstream.JetStream {
	nc, err := nats.Connect(url)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "IN", Subjects: subjects}); err != nil {
		b.Fatal(err)
	}
	for i := range n {
		if _, err := js.PublishAsync(fmt.Sprint("in.s", i%100), fmt.Appendf(nil, `{"value": %d, "i": %d}`, i%1000, i)); err != nil {
			b.Fatal(err)
		}
		if i%1000 == 999 {
			select {
			case <-js.PublishAsyncComplete():
			case <-ctx.Done():
				b.Fatal("publish timed out")
			}
		}
	}
	<-js.PublishAsyncComplete()
	return js
}

// drain runs one pipeline per url on a new durable until the durable has
// nothing pending, and returns the messages per second.
func drain(b *testing.B, js jetstream.JetStream, urls []string, durable string, n int) float64 {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stops []func()
	start := time.Now()
	for i, url := range urls {
		yaml := fmt.Sprintf(`
name: drain-%d
connections:
  bus: {type: nats, url: %s}
sources:
  readings:
    type: nats
    connection: bus
    subjects: [in.>]
    key: {topic_token: 2}
    jetstream: {stream: IN, durable: %s, create_stream: false}
stages:
  scaled: {type: map, input: readings, set: {scaled: 'value * 0.5 + 3', hot: 'value > 500'}}
sinks:
  out: {type: drop, input: scaled}
`, i, url, durable)
		f, err := config.Parse([]byte(yaml), "drain.yaml")
		if err != nil {
			b.Fatal(err)
		}
		built, err := f.Build(ctx, config.BuildOptions{Logger: zerolog.Nop()})
		if err != nil {
			b.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- built.Pipeline.Run(ctx) }()
		stops = append(stops, func() {
			if err := <-done; err != nil {
				b.Error(err)
			}
			built.Close(context.Background())
		})
		if i == 0 {
			// The first instance creates the durable; the rest bind it.
			waitUntil(b, "the durable", 10*time.Second, func() bool {
				_, err := js.Consumer(ctx, "IN", durable)
				return err == nil
			})
		}
	}
	waitUntil(b, "the stream to drain", 5*time.Minute, func() bool {
		c, err := js.Consumer(ctx, "IN", durable)
		if err != nil {
			return false
		}
		info, err := c.Info(ctx)
		return err == nil && info.NumPending == 0 && info.NumAckPending == 0 && info.AckFloor.Stream >= uint64(n)
	})
	elapsed := time.Since(start)
	cancel()
	for _, stop := range stops {
		stop()
	}
	return float64(n) / elapsed.Seconds()
}
