package mqtt

import (
	"strings"
	"sync"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/eclipse/paho.mqtt.golang/packets"
)

// sessionStore is the paho Store of every client edgeflow opens. paho's
// MemoryStore keeps each received QoS 1/2 PUBLISH until its PUBACK (or
// PUBCOMP) is sent, only for the next connect's resume to discard it
// unread, and formats debug log arguments on every Put and Del: at tens of
// thousands of readings a second that was ~4 % of the anomaly demo's CPU.
// This store keeps what resume uses — the client's own unconfirmed
// PUBLISH, PUBREL, SUBSCRIBE and UNSUBSCRIBE packets and received PUBRELs —
// and drops received PUBLISH packets at once.
type sessionStore struct {
	mu sync.Mutex
	m  map[string]packets.ControlPacket
}

var _ paho.Store = (*sessionStore)(nil)

func newSessionStore() *sessionStore {
	return &sessionStore{m: map[string]packets.ControlPacket{}}
}

// Open and Close keep the contents: they last across the reconnects of one
// client, as MemoryStore's do.
func (s *sessionStore) Open()  {}
func (s *sessionStore) Close() {}

func (s *sessionStore) Put(key string, p packets.ControlPacket) {
	if _, received := p.(*packets.PublishPacket); received && strings.HasPrefix(key, "i.") {
		return // resume discards it: the broker redelivers what was not acknowledged
	}
	s.mu.Lock()
	s.m[key] = p
	s.mu.Unlock()
}

func (s *sessionStore) Get(key string) packets.ControlPacket {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.m[key]
}

func (s *sessionStore) All() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	keys := make([]string, 0, len(s.m))
	for k := range s.m {
		keys = append(keys, k)
	}
	return keys
}

func (s *sessionStore) Del(key string) {
	s.mu.Lock()
	delete(s.m, key)
	s.mu.Unlock()
}

func (s *sessionStore) Reset() {
	s.mu.Lock()
	clear(s.m)
	s.mu.Unlock()
}
