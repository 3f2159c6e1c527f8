package mqtt

import (
	"context"
	"fmt"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/edgeflow/edgeflow/internal/brokertest"
	"github.com/rs/zerolog"
)

// A connection lost while paho's router waits in dispatch for inbox room
// (a backlog larger than the inbox, and a pipeline that takes nothing) is
// still noticed and reconnected. With the router blocked nobody reads the
// socket, so paho notices the loss by a missing PINGRESP and closes the
// socket; it reports the loss only after its router has returned, so
// dispatch must give up waiting when the socket closes. It used to wait
// for ever, and the connection never came back.
func TestLossWhileDispatchWaitsReconnects(t *testing.T) {
	b := brokertest.StartMosquitto(t, brokertest.MosquittoConfig{Persistence: true, Extra: "max_inflight_messages 0"})
	c, err := New("s", Options{URL: b.URL(), ClientID: "edge-stuck", ReconnectMin: 50 * time.Millisecond,
		ReconnectMax: 200 * time.Millisecond, ConnectTimeout: 5 * time.Second, Keepalive: 2 * time.Second}, zerolog.New(zerolog.NewTestWriter(t)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Register([]string{"x/#"}, 1, 8); err != nil { // nobody reads it
		t.Fatal(err)
	}
	if err := c.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer c.Close(context.Background())
	waitFor(t, "connect", c.Connected)

	pub := paho.NewClient(paho.NewClientOptions().AddBroker(b.URL()).SetClientID("pub-stuck"))
	if tok := pub.Connect(); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatalf("publisher: %v", tok.Error())
	}
	defer pub.Disconnect(0)
	const n = 3 * inboxLimit
	for i := range n {
		if tok := pub.Publish("x/a", 1, false, fmt.Sprint(i)); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
			t.Fatalf("publish %d: %v", i, tok.Error())
		}
	}
	// The inbox is full and dispatch waits: arrivals stop short of n.
	waitFor(t, "a full inbox", func() bool { return c.Stats().Received > inboxLimit })
	time.Sleep(200 * time.Millisecond)
	if got := c.Stats().Received; got >= n {
		t.Fatalf("received %d of %d: the inbox should have filled first", got, n)
	}

	b.Restart()
	waitFor(t, "the reconnect", func() bool { return c.Stats().Connects >= 2 && c.Connected() })
}
