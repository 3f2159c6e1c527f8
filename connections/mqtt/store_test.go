package mqtt

import (
	"slices"
	"testing"

	"github.com/eclipse/paho.mqtt.golang/packets"
)

func TestSessionStoreKeepsWhatResumeUses(t *testing.T) {
	s := newSessionStore()
	s.Open()
	pub := func() packets.ControlPacket { return packets.NewControlPacket(packets.Publish) }
	s.Put("i.1", pub())                                       // received: dropped
	s.Put("i.2", packets.NewControlPacket(packets.Pubrel))    // received QoS 2 release: kept
	s.Put("o.3", pub())                                       // our unconfirmed publish: kept
	s.Put("o.4", packets.NewControlPacket(packets.Subscribe)) // kept
	s.Del("i.1")                                              // its PUBACK: nothing to delete
	s.Close()
	s.Open() // a reconnect of the same client keeps the contents
	keys := s.All()
	slices.Sort(keys)
	if want := []string{"i.2", "o.3", "o.4"}; !slices.Equal(keys, want) {
		t.Fatalf("stored %v, want %v", keys, want)
	}
	if _, ok := s.Get("o.3").(*packets.PublishPacket); !ok {
		t.Errorf("o.3 is %T, want the publish", s.Get("o.3"))
	}
	s.Del("o.3")
	if s.Get("o.3") != nil || len(s.All()) != 2 {
		t.Errorf("after Del: %v", s.All())
	}
	s.Reset()
	if len(s.All()) != 0 {
		t.Errorf("after Reset: %v", s.All())
	}
}
