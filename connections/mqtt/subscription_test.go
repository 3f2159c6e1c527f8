package mqtt

import (
	"context"
	"testing"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/rs/zerolog"
)

// pubMsg is a received QoS 1 PUBLISH for dispatch.
type pubMsg struct {
	paho.Message
	topic string
}

func (m pubMsg) Topic() string     { return m.topic }
func (m pubMsg) Qos() byte         { return 1 }
func (m pubMsg) Duplicate() bool   { return false }
func (m pubMsg) Retained() bool    { return false }
func (m pubMsg) Payload() []byte   { return []byte("{}") }
func (m pubMsg) Ack()              {}
func (m pubMsg) MessageID() uint16 { return 1 }

// A subscription registered on a started connection (a reloaded pipeline's
// source, built while the old one runs) takes deliveries only once opened,
// so the old subscriber gets them alone, and the new one's in-flight window
// does not fill before it reads.
func TestLateSubscriptionWaitsForOpen(t *testing.T) {
	c, err := New("t", Options{URL: "tcp://127.0.0.1:1", ClientID: "x"}, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	early, err := c.Register([]string{"r/+"}, 1, 4)
	if err != nil {
		t.Fatal(err)
	}
	c.mu.Lock()
	c.started = true // as Start does, without a broker
	c.mu.Unlock()
	late, err := c.Register([]string{"r/+"}, 1, 4)
	if err != nil {
		t.Fatal(err)
	}

	c.dispatch(nil, pubMsg{topic: "r/1"})
	if len(early.C()) != 1 || len(late.C()) != 0 {
		t.Fatalf("before Open: early holds %d, late %d; want 1, 0", len(early.C()), len(late.C()))
	}
	if err := late.Open(context.Background()); err != nil { // not connected: activates only
		t.Fatal(err)
	}
	c.dispatch(nil, pubMsg{topic: "r/2"})
	if len(early.C()) != 2 || len(late.C()) != 1 {
		t.Fatalf("after Open: early holds %d, late %d; want 2, 1", len(early.C()), len(late.C()))
	}
	early.Close()
	late.Close()
}
