package nats_test

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/edgeflow/edgeflow/internal/brokertest"
	"github.com/edgeflow/edgeflow/internal/componenttest"
	"github.com/edgeflow/edgeflow/pipeline"
	natssource "github.com/edgeflow/edgeflow/sources/nats"
)

// TestMaxInFlightLeavesTheDurableToOthers: instances on one durable share
// its max_ack_pending. One whose sink never delivers, with room in its
// pipeline for all of it, holds only max_in_flight (plus the pull_batch
// buffered ahead), and a second instance gets everything else.
func TestMaxInFlightLeavesTheDurableToOthers(t *testing.T) {
	const n, maxAckPending, maxInFlight, pullBatch = 300, 100, 20, 10
	srv := brokertest.StartNATS(t, brokertest.NATSConfig{JetStream: true})
	_, js := admin(t, srv.URL())
	createStream(t, js, "IN", "in.>")
	var produced atomic.Int64
	if err := produce(js, "in", n, &produced); err != nil {
		t.Fatal(err)
	}
	conn := startConn(t, "url: "+srv.URL())
	conf := fmt.Sprintf(`subjects: [in.>]
jetstream: {stream: IN, durable: shared, max_ack_pending: %d, max_in_flight: %d, pull_batch: %d, ack_wait: 30s}`,
		maxAckPending, maxInFlight, pullBatch)
	start := func(name string, sink pipeline.Sink, drain time.Duration) (*natssource.Source, *running) {
		src, err := newSource(t, conn, conf)
		if err != nil {
			t.Fatal(err)
		}
		p := pipeline.New(pipeline.Options{Name: name, Buffer: 4 * maxAckPending, DrainTimeout: drain, Logger: &logger})
		p.AddSource("src", src, pipeline.NodeOptions{})
		p.AddSink("out", sink, []string{"src"}, pipeline.NodeOptions{})
		return src, run(t, p)
	}

	stuckSrc, stuck := start("stuck", stuckSink{}, 100*time.Millisecond)
	componenttest.WaitFor(t, 30*time.Second, "the stuck instance to take its fill", func() bool {
		return stuckSrc.InFlight() >= maxInFlight
	})
	time.Sleep(500 * time.Millisecond) // time to take more, if it would
	if held := stuckSrc.InFlight(); held != maxInFlight {
		t.Errorf("the stuck instance holds %d messages in its pipeline, want max_in_flight %d", held, maxInFlight)
	}
	if info := consumerInfo(t, js, "IN", "shared"); info.NumAckPending > maxInFlight+pullBatch {
		t.Errorf("the durable has %d unacknowledged deliveries with one instance, want at most max_in_flight + pull_batch = %d",
			info.NumAckPending, maxInFlight+pullBatch)
	}

	got := &seqSink{seen: map[int]bool{}}
	_, good := start("good", got, 10*time.Second)
	want := n - maxInFlight - pullBatch
	deadline := time.Now().Add(30 * time.Second)
	for got.count() < want {
		if time.Now().After(deadline) {
			info := consumerInfo(t, js, "IN", "shared")
			t.Fatalf("the second instance got %d of the %d messages the stuck one does not hold (the durable has %d unacknowledged)",
				got.count(), want, info.NumAckPending)
		}
		time.Sleep(20 * time.Millisecond)
	}
	good.stop(t)
	stuck.abort(t)
}
