package nats

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/edgeflow/edgeflow/internal/brokertest"
)

// The consumer a server stores reads back as wanted, so that instances
// starting against an existing durable bind it without an update.
func TestAsWantedMatchesStoredConsumer(t *testing.T) {
	for _, tc := range []struct {
		name   string
		binary func(testing.TB) string
		pinned bool
	}{
		{"debian", func(testing.TB) string { return "" }, false},
		{"embedded", brokertest.EmbeddedNATSServer, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := brokertest.StartNATS(t, brokertest.NATSConfig{JetStream: true, Binary: tc.binary(t)})
			nc, err := nats.Connect(srv.URL())
			if err != nil {
				t.Fatal(err)
			}
			defer nc.Close()
			js, _ := jetstream.New(nc)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "IN", Subjects: []string{"in.>"}}); err != nil {
				t.Fatal(err)
			}
			j := &jsConfig{ackWait: 2 * time.Second}
			cfg := jetstream.ConsumerConfig{Durable: "d", AckPolicy: jetstream.AckExplicitPolicy, AckWait: j.ackWait,
				MaxAckPending: 100, MaxDeliver: -1, DeliverPolicy: jetstream.DeliverAllPolicy, FilterSubject: "in.a"}
			if tc.pinned {
				cfg.PriorityGroups = []string{pinGroup}
				cfg.PriorityPolicy = jetstream.PriorityPolicyPinned
				cfg.PinnedTTL = j.pinnedTTL()
			}
			if _, err := js.CreateOrUpdateConsumer(ctx, "IN", cfg); err != nil {
				t.Fatal(err)
			}
			cons, err := js.Consumer(ctx, "IN", "d")
			if err != nil {
				t.Fatal(err)
			}
			if !asWanted(cons.CachedInfo(), cfg) {
				t.Errorf("stored %+v does not read back as wanted %+v", cons.CachedInfo().Config, cfg)
			}
			cfg.AckWait = time.Minute
			if asWanted(cons.CachedInfo(), cfg) {
				t.Error("a changed ack_wait reads as wanted")
			}
		})
	}
}
