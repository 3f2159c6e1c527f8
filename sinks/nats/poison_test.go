package nats_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/edgeflow/edgeflow/internal/brokertest"
	"github.com/edgeflow/edgeflow/internal/componenttest"
	"github.com/nats-io/nats.go/jetstream"
)

// A message larger than max_payload, or one whose subject cannot be filled,
// can never be published: it goes to the dead-letter sink once, and the
// rest of its batch is stored once. Before, "maximum payload exceeded" was
// taken for a passing failure: the whole batch was retried (forever with
// retry max -1) and nacked. Memory stays flat: a stream with ten times the
// poison messages leaves no more live heap.
func TestSinkDeadLettersPoisonAndDeliversTheRest(t *testing.T) {
	for _, js := range []bool{true, false} {
		t.Run("jetstream="+strconv.FormatBool(js), func(t *testing.T) {
			// A small max_payload keeps the oversize messages small (100
			// KB), so that those in flight barely move the heap samples.
			cfg := filepath.Join(t.TempDir(), "nats.conf")
			if err := os.WriteFile(cfg, []byte("max_payload: 65536\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			srv := brokertest.StartNATS(t, brokertest.NATSConfig{JetStream: true, Args: []string{"-c", cfg}})
			conf := "subject: out.{fields.id}"
			if js {
				conf += "\njetstream: true"
			}
			conn, s, err := build(t, srv.URL(), conf)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
			defer cancel()
			if err := conn.Start(ctx); err != nil {
				t.Fatal(err)
			}
			defer conn.Close(ctx)
			nc, _ := conn.Client()
			jsc, _ := jetstream.New(nc)
			stream := func(poison int) *componenttest.HeapTrack {
				if err := jsc.DeleteStream(ctx, "OUT"); err != nil && !errors.Is(err, jetstream.ErrStreamNotFound) {
					t.Fatal(err)
				}
				st, err := jsc.CreateStream(ctx, jetstream.StreamConfig{Name: "OUT", Subjects: []string{"out.>"}})
				if err != nil {
					t.Fatal(err)
				}
				const good = 180
				src := &componenttest.PoisonSource{Good: good, Poison: poison, Blob: 100 << 10}
				componenttest.StreamPoison(ctx, t, src, s, map[string]string{
					componenttest.Oversize: "maximum payload", componenttest.Invalid: "subject"})
				info, err := st.Info(ctx)
				if err != nil {
					t.Fatal(err)
				}
				if got := int(info.State.Msgs); got != good {
					t.Fatalf("stream holds %d, want the %d good messages once each", got, good)
				}
				return src.Heap
			}
			few := stream(20)
			many := stream(200)
			componenttest.FlatHeap(t, few, many, 2<<20)
		})
	}
}
