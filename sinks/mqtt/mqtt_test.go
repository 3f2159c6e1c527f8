package mqtt

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/edgeflow/edgeflow/component"
	mqttconn "github.com/edgeflow/edgeflow/connections/mqtt"
	"github.com/edgeflow/edgeflow/internal/brokertest"
	"github.com/edgeflow/edgeflow/pipeline"
	"github.com/rs/zerolog"
	"go.uber.org/goleak"
	"go.yaml.in/yaml/v3"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m, brokertest.IgnorePahoDisconnect) }

func newSinkFor(t testing.TB, conn *mqttconn.Conn, src string) *Sink {
	t.Helper()
	spec, _ := component.Lookup(pipeline.KindSink, "mqtt")
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(src), &doc); err != nil {
		t.Fatal(err)
	}
	conf, errs := component.Parse(spec.Fields, doc.Content[0], "t.yaml", "sinks.x", nil)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	s, err := spec.New(conf, &component.Resources{Logger: zerolog.Nop(), Connections: map[string]component.Connection{"b": conn}})
	if err != nil {
		t.Fatal(err)
	}
	return s.(*Sink)
}

// Write returns nil only after the broker confirmed; the topic template is
// rendered per message; a broker that is down makes Write fail, not hang.
func TestSinkPublishesAndConfirms(t *testing.T) {
	b := brokertest.StartMosquitto(t, brokertest.MosquittoConfig{})
	conn, err := mqttconn.New("b", mqttconn.Options{URL: b.URL(), ClientID: "edge-sink", ReconnectMin: 50 * time.Millisecond, ReconnectMax: 500 * time.Millisecond}, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	if err := conn.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	got := map[string]string{}
	sub := paho.NewClient(paho.NewClientOptions().AddBroker(b.URL()).SetClientID("check").SetCleanSession(true).SetAutoReconnect(false))
	if tok := sub.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	defer sub.Disconnect(250)
	sub.Subscribe("alerts/#", 1, func(_ paho.Client, m paho.Message) {
		mu.Lock()
		got[m.Topic()] = string(m.Payload())
		mu.Unlock()
	}).Wait()

	s := newSinkFor(t, conn, "{connection: b, topic: 'alerts/{key}/{fields.kind}'}")
	var batch []*pipeline.Message
	for _, k := range []string{"s1", "s2", "s3"} {
		m := pipeline.NewMessage(nil)
		m.Key, m.Fields = k, map[string]any{"kind": "hot", "value": 1.5}
		batch = append(batch, m)
	}
	if err := s.WriteBatch(context.Background(), batch); err != nil {
		t.Fatal(err)
	}
	if st := conn.Stats(); st.Published != 3 {
		t.Errorf("published = %d, want 3 confirmed", st.Published)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		mu.Lock()
		n := len(got)
		mu.Unlock()
		if n == 3 || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	mu.Lock()
	if p := got["alerts/s2/hot"]; !strings.Contains(p, `"value":1.5`) {
		t.Errorf("alerts/s2/hot payload %q; got %v", p, got)
	}
	mu.Unlock()

	bad := pipeline.NewMessage(nil)
	bad.Fields = map[string]any{"value": 1.0}
	if err := s.Write(context.Background(), bad); err == nil || !strings.Contains(err.Error(), "topic") {
		t.Errorf("missing template field: err = %v", err)
	}

	sub.Disconnect(250)
	b.Kill()
	waitDown := time.Now().Add(10 * time.Second)
	for conn.Connected() && time.Now().Before(waitDown) {
		time.Sleep(20 * time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.Write(ctx, batch[0]); err == nil {
		t.Error("Write succeeded with the broker down")
	}
}
