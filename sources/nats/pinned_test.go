package nats_test

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/edgeflow/edgeflow/internal/brokertest"
	"github.com/edgeflow/edgeflow/pipeline"
)

// A server older than 2.11 ignores priority groups; a pinned source must
// then read nothing rather than share the durable unpinned.
func TestPinnedRefusesOldServer(t *testing.T) {
	srv := brokertest.StartNATS(t, brokertest.NATSConfig{JetStream: true}) // Debian's 2.9
	_, js := admin(t, srv.URL())
	createStream(t, js, "IN", "in.>")
	var acked atomic.Int64
	if err := produce(js, "in", 8, &acked); err != nil {
		t.Fatal(err)
	}
	conn := startConn(t, "url: "+srv.URL())
	src, err := newSource(t, conn, "subjects: [in.>]\njetstream: {stream: IN, durable: pin, pinned: true}")
	if err != nil {
		t.Fatal(err)
	}
	p := pipeline.New(pipeline.Options{Name: "pinned", Logger: &logger})
	p.AddSource("src", src, pipeline.NodeOptions{})
	col := newCollector(nil)
	p.AddSink("out", col, []string{"src"}, pipeline.NodeOptions{})
	r := run(t, p)
	time.Sleep(1500 * time.Millisecond)
	r.stop(t)
	if n := col.count(); n != 0 {
		t.Errorf("a pinned source read %d messages from a server that cannot pin", n)
	}
}

// On a server that can pin, two pinned sources on one durable: only one
// of them reads.
func TestPinnedOneReader(t *testing.T) {
	srv := brokertest.StartNATS(t, brokertest.NATSConfig{JetStream: true, Binary: brokertest.EmbeddedNATSServer(t)})
	_, js := admin(t, srv.URL())
	createStream(t, js, "IN", "in.>")
	conn := startConn(t, "url: "+srv.URL())
	var cols []*collector
	for range 2 {
		src, err := newSource(t, conn, "subjects: [in.>]\njetstream: {stream: IN, durable: pin, pinned: true, ack_wait: 2s}")
		if err != nil {
			t.Fatal(err)
		}
		p := pipeline.New(pipeline.Options{Name: "pinned", Logger: &logger})
		p.AddSource("src", src, pipeline.NodeOptions{})
		col := newCollector(nil)
		p.AddSink("out", col, []string{"src"}, pipeline.NodeOptions{})
		run(t, p)
		cols = append(cols, col)
	}
	var acked atomic.Int64
	if err := produce(js, "in", 200, &acked); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for cols[0].count()+cols[1].count() < 200 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	a, b := cols[0].count(), cols[1].count()
	if a+b != 200 || (a != 0 && b != 0) {
		t.Errorf("the two pinned sources read %d and %d of 200 messages; want all by one", a, b)
	}
}
