package nats_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/edgeflow/edgeflow/internal/brokertest"
	"github.com/edgeflow/edgeflow/internal/componenttest"
	"github.com/edgeflow/edgeflow/pipeline"
	"github.com/nats-io/nats.go/jetstream"
)

// The consumer filters only when the source reads part of the stream: a
// filter equal to the stream's own subjects selects everything anyway, and
// a wildcard filter over many subjects is slow on nats-server 2.9.
func TestFilterOnlyPartOfStream(t *testing.T) {
	srv := brokertest.StartNATS(t, brokertest.NATSConfig{JetStream: true})
	_, js := admin(t, srv.URL())
	createStream(t, js, "IN", "in.>")
	var acked atomic.Int64
	if err := produce(js, "in", 40, &acked); err != nil {
		t.Fatal(err)
	}
	// A durable an older edgeflow created with the filter loses it.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := js.CreateOrUpdateConsumer(ctx, "IN", jetstream.ConsumerConfig{Durable: "old", FilterSubject: "in.>",
		AckPolicy: jetstream.AckExplicitPolicy, MaxDeliver: -1}); err != nil {
		t.Fatal(err)
	}
	conn := startConn(t, "url: "+srv.URL())
	for _, tc := range []struct {
		subjects, durable, filter string
		want                      int
	}{
		{"[in.>]", "whole", "", 40},
		{"[in.>]", "old", "", 40},
		{"[in.s1]", "part", "in.s1", 10},
	} {
		src, err := newSource(t, conn, "subjects: "+tc.subjects+"\njetstream: {stream: IN, durable: "+tc.durable+"}")
		if err != nil {
			t.Fatal(err)
		}
		p := pipeline.New(pipeline.Options{Name: "filter", Logger: &logger})
		p.AddSource("src", src, pipeline.NodeOptions{})
		col := newCollector(nil)
		p.AddSink("out", col, []string{"src"}, pipeline.NodeOptions{})
		r := run(t, p)
		componenttest.WaitFor(t, 20*time.Second, tc.durable+" to read its messages", func() bool { return col.count() >= tc.want })
		time.Sleep(200 * time.Millisecond) // anything beyond the filter would arrive now
		r.stop(t)
		info := consumerInfo(t, js, "IN", tc.durable)
		if info.Config.FilterSubject != tc.filter || len(info.Config.FilterSubjects) != 0 {
			t.Errorf("%s: filter %q %v, want %q", tc.durable, info.Config.FilterSubject, info.Config.FilterSubjects, tc.filter)
		}
		if got := col.count(); got != tc.want {
			t.Errorf("%s: read %d messages, want %d", tc.durable, got, tc.want)
		}
	}
}
