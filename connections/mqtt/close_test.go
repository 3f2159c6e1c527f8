package mqtt

import (
	"context"
	"fmt"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/rs/zerolog"

	"github.com/edgeflow/edgeflow/internal/brokertest"
)

// A clean Close must get the PUBACKs of settled messages to the broker even
// when the same client id connects again at once (a restart or a reload):
// none of them may come back to the next connection. Several rounds, as
// the broker loses them only when it takes the session over before reading
// them.
func TestCloseAcksBeforeTakeover(t *testing.T) {
	b := brokertest.StartMosquitto(t, brokertest.MosquittoConfig{})
	const topic, perRound, rounds = "close/acks", 10, 30
	pub := paho.NewClient(paho.NewClientOptions().AddBroker(b.URL()).SetClientID("close-publisher").SetAutoReconnect(false))
	if tok := pub.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("publisher connect: %v", tok.Error())
	}
	defer pub.Disconnect(250)

	open := func() (*Conn, *Subscription) {
		t.Helper()
		c, err := New("edge", Options{URL: b.URL(), ClientID: "close-acks", Keepalive: 5 * time.Second,
			ConnectTimeout: 5 * time.Second, RedeliveryDelay: time.Minute}, zerolog.Nop())
		if err != nil {
			t.Fatal(err)
		}
		s, err := c.Register([]string{topic}, 1, 100)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		return c, s
	}
	c, _ := open() // the persistent session's subscription, before publishing
	c.Close(context.Background())

	for r := range rounds {
		for i := range perRound {
			tok := pub.Publish(topic, 1, false, fmt.Sprintf("%d/%d", r, i))
			if !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
				t.Fatalf("publish: %v", tok.Error())
			}
		}
		c, s := open()
		var held []Delivery
		for i := range perRound {
			select {
			case d := <-s.C():
				if want := fmt.Sprintf("%d/%d", r, i); string(d.Payload) != want {
					c.Close(context.Background())
					t.Fatalf("round %d: got %q, want %q: a message settled before a clean close came back",
						r, d.Payload, want)
				}
				held = append(held, d)
			case <-time.After(5 * time.Second):
				c.Close(context.Background())
				t.Fatalf("round %d: only %d of %d messages arrived", r, i, perRound)
			}
		}
		// Settled all at once just before closing, like a pipeline's drain.
		for i := range held {
			held[i].Settle(nil)
		}
		s.Close()
		c.Close(context.Background())
	}
}
