package mqtt

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	mqttconn "github.com/edgeflow/edgeflow/connections/mqtt"
	"github.com/edgeflow/edgeflow/internal/brokertest"
	"github.com/edgeflow/edgeflow/pipeline"
	"github.com/rs/zerolog"
)

// At QoS 0 on plain TCP a batch goes out as one write of its packets:
// every message arrives once, in order, on its own topic; one that cannot
// be made into a packet fails alone and permanently; retain is honoured.
// With the broker down a write fails as unavailable (the engine retries
// once the publisher is back) instead of vanishing, and works again after
// the broker returns.
func TestSinkQoS0WritesBatchesDirectly(t *testing.T) {
	b := brokertest.StartMosquitto(t, brokertest.MosquittoConfig{})
	conn, err := mqttconn.New("b", mqttconn.Options{URL: b.URL(), ClientID: "edge-sink-q0", ReconnectMin: 50 * time.Millisecond, ReconnectMax: 500 * time.Millisecond}, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	if err := conn.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	if !conn.DirectPublish() {
		t.Fatal("a tcp:// connection does not publish QoS 0 directly")
	}
	var mu sync.Mutex
	var seqs []int
	sub := connectCheck(t, b.URL(), "check-q0")
	defer sub.Disconnect(250)
	sub.Subscribe("q0/#", 0, func(_ paho.Client, m paho.Message) {
		var seq int
		if _, err := fmt.Sscanf(string(m.Payload()), `{"seq":%d}`, &seq); err != nil {
			t.Errorf("payload %q on %s", m.Payload(), m.Topic())
			return
		}
		if want := "q0/s" + strconv.Itoa(seq%3); m.Topic() != want {
			t.Errorf("seq %d on %s, want %s", seq, m.Topic(), want)
		}
		mu.Lock()
		seqs = append(seqs, seq)
		mu.Unlock()
	}).Wait()

	s := newSinkFor(t, conn, "{connection: b, topic: 'q0/{key}', qos: 0}")
	const batches, size, bad = 50, 64, 70
	for i := range batches {
		batch := make([]*pipeline.Message, size)
		for j := range batch {
			seq := i*size + j
			m := pipeline.NewMessage(nil)
			m.Key, m.Fields = "s"+strconv.Itoa(seq%3), map[string]any{"seq": float64(seq)}
			if seq == bad {
				m.Key = "" // {key} cannot be rendered
			}
			batch[j] = m
		}
		err := s.WriteBatch(context.Background(), batch)
		if i != bad/size {
			if err != nil {
				t.Fatalf("batch %d: %v", i, err)
			}
			continue
		}
		var be *pipeline.BatchError
		if !errors.As(err, &be) {
			t.Fatalf("batch with an unrenderable topic: err = %v, want a BatchError", err)
		}
		for j, e := range be.Errs {
			if failed := j == bad%size; failed != (e != nil) || (failed && !pipeline.IsPermanent(e)) {
				t.Errorf("message %d of the batch: err = %v", j, e)
			}
		}
	}
	want := batches*size - 1
	waitFor(t, "every QoS 0 message", func() bool { mu.Lock(); defer mu.Unlock(); return len(seqs) >= want })
	time.Sleep(100 * time.Millisecond) // duplicates would arrive now
	mu.Lock()
	if len(seqs) != want {
		t.Errorf("received %d messages, want %d", len(seqs), want)
	}
	next := 0
	for _, seq := range seqs {
		if next == bad {
			next++
		}
		if seq != next {
			t.Fatalf("received seq %d where %d was due: out of order, lost or duplicated", seq, next)
		}
		next++
	}
	mu.Unlock()
	if st := conn.Stats(); st.Published != uint64(want) {
		t.Errorf("published = %d, want %d", st.Published, want)
	}

	rs := newSinkFor(t, conn, "{connection: b, topic: 'q0r/last', qos: 0, retain: true}")
	m := pipeline.NewMessage(nil)
	m.Fields = map[string]any{"seq": 1.0}
	if err := rs.Write(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	retained := make(chan bool, 1)
	late := connectCheck(t, b.URL(), "check-q0-late")
	defer late.Disconnect(250)
	late.Subscribe("q0r/last", 0, func(_ paho.Client, m paho.Message) {
		select {
		case retained <- m.Retained():
		default:
		}
	})
	select {
	case r := <-retained:
		if !r {
			t.Error("the retained message arrived without its retain flag")
		}
	case <-time.After(10 * time.Second):
		t.Error("a subscriber arriving later did not get the retained message")
	}

	sub.Disconnect(250)
	late.Disconnect(250)
	b.Kill()
	waitFor(t, "the publisher to notice the broker is gone", func() bool { return !conn.PublisherConnected() })
	m = pipeline.NewMessage(nil)
	m.Key, m.Fields = "s0", map[string]any{"seq": 0.0}
	err = s.Write(context.Background(), m)
	var be *pipeline.BatchError
	if !errors.As(err, &be) || len(be.Errs) != 1 || !pipeline.IsUnavailable(be.Errs[0]) {
		t.Fatalf("write with the broker down: err = %v, want the message failed as unavailable", err)
	}
	b.Start()
	waitFor(t, "the publisher to reconnect", conn.PublisherConnected)
	if err := s.Write(context.Background(), m); err != nil {
		t.Errorf("write after the broker came back: %v", err)
	}
}

func connectCheck(t *testing.T, url, id string) paho.Client {
	t.Helper()
	c := paho.NewClient(paho.NewClientOptions().AddBroker(url).SetClientID(id).SetCleanSession(true).SetAutoReconnect(false))
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	return c
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
