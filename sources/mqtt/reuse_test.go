package mqtt

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	mqttconn "github.com/edgeflow/edgeflow/connections/mqtt"
	"github.com/edgeflow/edgeflow/internal/brokertest"
	"github.com/edgeflow/edgeflow/internal/componenttest"
	"github.com/edgeflow/edgeflow/pipeline"
)

// doubler is a stage of several workers that adds a field computed from
// "seq", after a random pause, so that messages settle out of order.
type doubler struct{}

func (doubler) Process(_ context.Context, m *pipeline.Message, out pipeline.Emitter) error {
	time.Sleep(time.Duration(rand.IntN(50)) * time.Microsecond)
	seq, _ := m.Fields["seq"].(float64)
	m.Fields["double"] = 2 * seq
	out.Emit(m)
	return nil
}

// intactSink checks that every message it is given is whole and its own:
// fields, key and topic all agree with the payload. It keeps the payloads
// (a source never reuses those; a dead letter may carry them) to check
// them again at the end, and counts the messages it saw by address.
type intactSink struct {
	mu       sync.Mutex
	seen     map[int]int
	pointers map[*pipeline.Message]bool
	payloads map[int][]byte
	errs     []error
}

func newIntactSink() *intactSink {
	return &intactSink{seen: map[int]int{}, pointers: map[*pipeline.Message]bool{}, payloads: map[int][]byte{}}
}

func (s *intactSink) Write(_ context.Context, m *pipeline.Message) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pointers[m] = true
	seq, err := s.check(m)
	if err != nil {
		s.errs = append(s.errs, err)
		return nil
	}
	s.seen[seq]++
	s.payloads[seq] = m.Payload
	return nil
}

func (s *intactSink) check(m *pipeline.Message) (int, error) {
	if reason := m.Meta[pipeline.MetaDeadLetterError]; reason != "" {
		var seq int
		if _, err := fmt.Sscanf(string(m.Payload), "bad-%d", &seq); err != nil {
			return 0, fmt.Errorf("dead letter with payload %q (%s)", m.Payload, reason)
		}
		if m.Fields[pipeline.DeadLetterPayload] != string(m.Payload) || m.Topic != "r/"+sensorOf(seq) {
			return 0, fmt.Errorf("dead letter %d: record %v, topic %q, payload %q", seq, m.Fields, m.Topic, m.Payload)
		}
		return seq, nil
	}
	var want map[string]any
	if err := json.Unmarshal(m.Payload, &want); err != nil {
		return 0, fmt.Errorf("delivered payload %q: %v", m.Payload, err)
	}
	seq := int(want["seq"].(float64))
	want["double"] = float64(2 * seq)
	if fmt.Sprint(want) != fmt.Sprint(m.Fields) || m.Key != sensorOf(seq) || m.Topic != "r/"+m.Key {
		return 0, fmt.Errorf("message %d: fields %v (want %v), key %q, topic %q", seq, m.Fields, want, m.Key, m.Topic)
	}
	return seq, nil
}

func sensorOf(seq int) string { return "s" + strconv.Itoa(seq%4) }

// reusePayload is message seq of TestReusedMessagesAreIntact: every
// seventh does not decode, and they vary in length and fields.
func reusePayload(seq int) []byte {
	if seq%7 == 3 {
		return []byte(fmt.Sprintf("bad-%d", seq))
	}
	odd := "" // a field only some have: one left over from an earlier message shows
	if seq%2 == 1 {
		odd = `,"odd":true`
	}
	return []byte(fmt.Sprintf(`{"seq":%d,"sensor":%q,"pad":%q%s}`, seq, sensorOf(seq), strings.Repeat("p", seq%13), odd))
}

// TestReusedMessagesAreIntact: the source reuses a message, its fields
// map and its delivery once the engine has settled it; through a stage of
// four workers, out-of-order settling and dead letters, every message
// delivered is still whole and its own, every one arrives once, the
// payloads kept by the sinks are untouched, and the messages did go round.
func TestReusedMessagesAreIntact(t *testing.T) {
	b := brokertest.StartMosquitto(t, brokertest.MosquittoConfig{})
	for _, qos := range []int{0, 1} {
		t.Run("qos="+strconv.Itoa(qos), func(t *testing.T) {
			id := "edge-reuse-" + strconv.Itoa(qos)
			conn := newConn(t, b.URL(), id)
			src := source(t, conn, fmt.Sprintf("{connection: broker, topics: [r/+], qos: %d, key: {topic_token: 2}, max_in_flight: 32}", qos))
			out, dl := newIntactSink(), newIntactSink()
			stop := runningVia(t, conn, src, doubler{}, out, dl)
			componenttest.WaitFor(t, time.Minute, "subscription", src.(*Source).Ready)

			const n = 2000
			pub := publisher(t, b.URL(), "pub-"+id)
			for seq := range n {
				if tok := pub.Publish("r/"+sensorOf(seq), 1, false, reusePayload(seq)); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
					t.Fatalf("publish %d: %v", seq, tok.Error())
				}
			}
			componenttest.WaitFor(t, time.Minute, "every message", func() bool {
				out.mu.Lock()
				defer out.mu.Unlock()
				dl.mu.Lock()
				defer dl.mu.Unlock()
				return len(out.seen)+len(dl.seen)+len(out.errs)+len(dl.errs) >= n
			})
			stop()
			for _, s := range []*intactSink{out, dl} {
				for _, err := range s.errs {
					t.Error(err)
				}
				for seq, times := range s.seen {
					if times != 1 || string(s.payloads[seq]) != string(reusePayload(seq)) {
						t.Errorf("message %d delivered %d times, payload now %q", seq, times, s.payloads[seq])
					}
				}
			}
			bad := 0
			for seq := range n {
				if reusePayload(seq)[0] == 'b' {
					bad++
				}
			}
			if len(dl.seen) != bad || len(out.seen) != n-bad {
				t.Errorf("delivered %d, dead-lettered %d of %d", len(out.seen), len(dl.seen), n)
			}
			if len(out.pointers) > n/4 {
				t.Errorf("%d messages delivered in %d distinct messages: settled messages are not reused", n, len(out.pointers))
			}
		})
	}
}

// TestEmitReusesSettledMessages: a message settled before the next
// delivery is the next message, and emitting one then costs only the boxes
// of its numbers (a delivery, a message and a map before).
func TestEmitReusesSettledMessages(t *testing.T) {
	src := unconnectedSource(t)
	payload := []byte(`{"sensor":"s3","seq":100001,"ts":1765000000000000000}`)
	out := &keepLast{}
	emit := func() {
		d := mqttconn.Delivery{Topic: "in/s3", Payload: payload, Delivered: 1}
		if err := src.emit(&d, out); err != nil {
			t.Fatal(err)
		}
	}
	emit()
	first := out.last
	emit()
	if out.last != first || out.dead != 0 {
		t.Fatalf("a settled message was not reused (%d dead letters)", out.dead)
	}
	if want := "s3 100001 3"; out.seen != want {
		t.Fatalf("reused message: %q, want key, seq and field count %q", out.seen, want)
	}
	if raceEnabled {
		return // the race detector allocates
	}
	if allocs := testing.AllocsPerRun(1000, emit); allocs > 2 {
		t.Errorf("%v allocations per message, want at most 2 (the boxed seq and ts)", allocs)
	}
}

// keepLast settles what it is given at once, noting the last message and
// what it held (settling empties it).
type keepLast struct {
	last *pipeline.Message
	seen string
	dead int
}

func (o *keepLast) Emit(m *pipeline.Message) error {
	o.last = m
	if seq, _ := m.Fields["seq"].(float64); o.seen == "" || seq != 100001 || len(m.Fields) != 3 || m.Key != "s3" {
		o.seen = fmt.Sprintf("%s %v %d", m.Key, m.Fields["seq"], len(m.Fields))
	}
	m.Release(nil)
	return nil
}

func (o *keepLast) DeadLetter(m *pipeline.Message, _ error) { o.dead++; m.Release(nil) }
