package mqtt

import (
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	mqttconn "github.com/edgeflow/edgeflow/connections/mqtt"
	"github.com/edgeflow/edgeflow/internal/brokertest"
	"github.com/edgeflow/edgeflow/internal/componenttest"
	"github.com/rs/zerolog"
)

// A message above max_payload, or one whose topic cannot be filled, goes to
// the dead-letter sink once, and every good message of its batch reaches
// the broker once. Memory stays flat: a stream with ten times the poison
// messages leaves no more live heap behind, and does not creep while it
// runs.
func TestSinkDeadLettersPoisonAndDeliversTheRest(t *testing.T) {
	b := brokertest.StartMosquitto(t, brokertest.MosquittoConfig{})
	conn, err := mqttconn.New("b", mqttconn.Options{URL: b.URL(), ClientID: "edge-poison-sink",
		ReconnectMin: 50 * time.Millisecond, ReconnectMax: 500 * time.Millisecond}, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	defer conn.Close(ctx)
	if err := conn.Start(ctx); err != nil {
		t.Fatal(err)
	}
	var (
		mu  sync.Mutex
		got map[int]int
	)
	sub := paho.NewClient(paho.NewClientOptions().AddBroker(b.URL()).SetClientID("check-poison").SetCleanSession(true).SetAutoReconnect(false))
	if tok := sub.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	defer sub.Disconnect(250)
	sub.Subscribe("out/#", 1, func(_ paho.Client, m paho.Message) {
		var rec struct{ Seq int }
		_ = json.Unmarshal(m.Payload(), &rec)
		mu.Lock()
		got[rec.Seq]++
		mu.Unlock()
	}).Wait()
	s := newSinkFor(t, conn, "{connection: b, topic: 'out/{fields.id}', max_payload: 65536}")

	stream := func(poison int) *componenttest.HeapTrack {
		mu.Lock()
		got = map[int]int{}
		mu.Unlock()
		const good = 180
		src := &componenttest.PoisonSource{Good: good, Poison: poison, Blob: 100 << 10}
		componenttest.StreamPoison(ctx, t, src, s, map[string]string{
			componenttest.Oversize: "exceeds max_payload", componenttest.Invalid: "topic"})
		componenttest.WaitFor(t, 30*time.Second, "the good messages at the broker", func() bool {
			mu.Lock()
			defer mu.Unlock()
			return len(got) >= good
		})
		time.Sleep(200 * time.Millisecond) // would a duplicate follow?
		mu.Lock()
		defer mu.Unlock()
		for i := 1; i <= src.N(); i++ {
			if want := map[bool]int{true: 1, false: 0}[src.Kind(i) == ""]; got[i] != want {
				t.Errorf("seq %d (%q) reached the broker %d times, want %d", i, src.Kind(i), got[i], want)
			}
		}
		return src.Heap
	}
	few := stream(20)
	many := stream(200)
	componenttest.FlatHeap(t, few, many, 2<<20)
}
