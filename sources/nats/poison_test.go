package nats_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/edgeflow/edgeflow/internal/brokertest"
	"github.com/edgeflow/edgeflow/internal/componenttest"
	"github.com/edgeflow/edgeflow/pipeline"
)

// A sink outage longer than max_deliver deliveries sends nothing to the
// dead-letter sink (its failures are Unavailable: not the message's fault),
// while a message that also fails at the dead-letter sink is terminated
// after max_deliver + 3 deliveries instead of being naked for ever.
func TestOutageDoesNotCountAndFailingDeadLetterTerminates(t *testing.T) {
	srv := brokertest.StartNATS(t, brokertest.NATSConfig{JetStream: true})
	_, js := admin(t, srv.URL())
	conn := startConn(t, "url: "+srv.URL())
	src, err := newSource(t, conn, `subjects: [work.>]
codec: raw
jetstream:
  stream: WORK
  durable: outage
  max_deliver: 2
  nak_delay: 20ms
  max_nak_delay: 50ms`)
	if err != nil {
		t.Fatal(err)
	}
	var down atomic.Bool
	down.Store(true)
	out := newCollector(func(m *pipeline.Message) error {
		switch {
		case string(m.Payload) == "poison":
			return errors.New("rejected for good")
		case down.Load():
			return pipeline.Unavailable(errors.New("sink not connected"))
		}
		return nil
	})
	dl := newCollector(func(*pipeline.Message) error { return errors.New("dead-letter store down") })
	p := pipeline.New(pipeline.Options{Name: "outage", Logger: &logger})
	p.AddSource("src", src, pipeline.NodeOptions{})
	p.AddSink("out", out, []string{"src"}, pipeline.NodeOptions{})
	p.SetDeadLetter("dl", dl, pipeline.NodeOptions{})
	r := run(t, p)
	componenttest.WaitFor(t, 15*time.Second, "the stream", func() bool {
		_, err := js.Stream(context.Background(), "WORK")
		return err == nil
	})
	for _, s := range []string{"good", "poison"} {
		if _, err := js.Publish(context.Background(), "work.a", []byte(s)); err != nil {
			t.Fatal(err)
		}
	}
	componenttest.WaitFor(t, 15*time.Second, "many outage deliveries", func() bool { return out.attemptsFor("good") >= 6 })
	down.Store(false)
	componenttest.WaitFor(t, 15*time.Second, "the good message", func() bool { return out.count() == 1 })
	componenttest.WaitFor(t, 15*time.Second, "the poison message terminated", func() bool {
		info, err := js.Consumer(context.Background(), "WORK", "outage")
		return err == nil && info.CachedInfo().NumAckPending == 0 && info.CachedInfo().NumPending == 0 &&
			dl.attemptsFor("poison") > 0
	})
	attempts := dl.attemptsFor("poison")
	time.Sleep(500 * time.Millisecond) // ten nak delays: would it come back?
	r.stop(t)
	if dl.attemptsFor("good") != 0 {
		t.Errorf("the good message was dead-lettered by the outage")
	}
	if got := dl.attemptsFor("poison"); got != 3 || got != attempts {
		t.Errorf("dead-letter attempts for the poison message: %d (then %d), want 3", attempts, got)
	}
}
