package mqtt

import (
	"bytes"
	"strings"
	"testing"

	"github.com/eclipse/paho.mqtt.golang/packets"
)

// The packets AppendPublish makes are what paho's own reader parses as
// QoS 0 PUBLISH packets, for remaining lengths of one to three bytes, with
// and without retain, one after another in one buffer.
func TestAppendPublishRoundTrips(t *testing.T) {
	type pub struct {
		topic   string
		retain  bool
		payload []byte
	}
	var want []pub
	var buf []byte
	for i, size := range []int{0, 1, 100, 125, 126, 127, 128, 16000, 16381, 16382, 20000, 2100000} {
		p := pub{topic: strings.Repeat("t", 1+i), retain: i%2 == 1, payload: bytes.Repeat([]byte{byte(i)}, size)}
		var err error
		if buf, err = AppendPublish(buf, p.topic, p.retain, p.payload); err != nil {
			t.Fatal(err)
		}
		want = append(want, p)
	}
	r := bytes.NewReader(buf)
	for i, w := range want {
		cp, err := packets.ReadPacket(r)
		if err != nil {
			t.Fatalf("packet %d: %v", i, err)
		}
		p, ok := cp.(*packets.PublishPacket)
		if !ok {
			t.Fatalf("packet %d is a %T", i, cp)
		}
		if p.TopicName != w.topic || p.Retain != w.retain || p.Qos != 0 || p.Dup || !bytes.Equal(p.Payload, w.payload) {
			t.Errorf("packet %d: topic %q retain %v qos %d dup %v payload %d bytes; want topic %q retain %v, %d bytes",
				i, p.TopicName, p.Retain, p.Qos, p.Dup, len(p.Payload), w.topic, w.retain, len(w.payload))
		}
	}
	if r.Len() != 0 {
		t.Errorf("%d bytes left over", r.Len())
	}
	if _, err := AppendPublish(nil, strings.Repeat("x", maxTopic+1), false, nil); err == nil {
		t.Error("a topic longer than 65535 bytes was accepted")
	}
}
