package nats_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/edgeflow/edgeflow/internal/brokertest"
	"github.com/edgeflow/edgeflow/internal/componenttest"
	"github.com/edgeflow/edgeflow/pipeline"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

const conformanceSubject = "conformance.out"

// sinkHarness is a sink harness on its own nats-server; cfg is the sink's
// YAML after its connection.
func sinkHarness(t *testing.T, b *brokertest.NATS, cfg string) componenttest.SinkHarness {
	return componenttest.SinkHarness{
		New: func(t *testing.T) (pipeline.Sink, func(context.Context) error) {
			conn, s, err := build(t, b.URL(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { conn.Close(context.Background()) })
			if err := conn.Start(context.Background()); err != nil {
				t.Fatal(err)
			}
			return s, conn.Close
		},
		Break: func(*testing.T) { b.Kill() },
	}
}

func client(t *testing.T, url string) *nats.Conn {
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// Core NATS: confirmed by a flush; a subscriber receives the messages.
func TestConformanceCore(t *testing.T) {
	componenttest.TestSink(t, func(t *testing.T) componenttest.SinkHarness {
		b := brokertest.StartNATS(t, brokertest.NATSConfig{})
		var mu sync.Mutex
		var got []int
		nc := client(t, b.URL())
		if _, err := nc.Subscribe(conformanceSubject, func(m *nats.Msg) {
			if seq, ok := componenttest.SeqOfPayload(m.Data); ok {
				mu.Lock()
				got = append(got, seq)
				mu.Unlock()
			}
		}); err != nil {
			t.Fatal(err)
		}
		if err := nc.Flush(); err != nil {
			t.Fatal(err)
		}
		h := sinkHarness(t, b, "subject: "+conformanceSubject+"\ntimeout: 1s")
		h.Received = func(*testing.T) []int {
			mu.Lock()
			defer mu.Unlock()
			return append([]int(nil), got...)
		}
		return h
	})
}

// JetStream: confirmed by the stream's PubAck, so the stream has the
// message as soon as the write returns.
func TestConformanceJetStream(t *testing.T) {
	componenttest.TestSink(t, func(t *testing.T) componenttest.SinkHarness {
		b := brokertest.StartNATS(t, brokertest.NATSConfig{JetStream: true})
		js, err := jetstream.New(client(t, b.URL()))
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		stream, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "OUT", Subjects: []string{conformanceSubject}})
		if err != nil {
			t.Fatal(err)
		}
		h := sinkHarness(t, b, "subject: "+conformanceSubject+"\njetstream: true\nstream: OUT\ntimeout: 1s")
		h.Features.Immediate = true
		h.Received = func(t *testing.T) []int {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			info, err := stream.Info(ctx)
			if err != nil {
				t.Fatalf("stream info: %v", err)
			}
			var got []int
			for seq := info.State.FirstSeq; info.State.Msgs > 0 && seq <= info.State.LastSeq; seq++ {
				m, err := stream.GetMsg(ctx, seq)
				if err != nil {
					t.Fatalf("stream message %d: %v", seq, err)
				}
				if s, ok := componenttest.SeqOfPayload(m.Data); ok {
					got = append(got, s)
				}
			}
			return got
		}
		return h
	})
}
