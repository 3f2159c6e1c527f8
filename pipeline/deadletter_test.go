package pipeline

import (
	"context"
	"encoding/base64"
	"errors"
	"sync"
	"testing"
	"time"
)

// rawSource emits one tracked message per payload, with no fields: what
// a source sends to the dead-letter sink when a payload does not decode.
type rawSource struct {
	payloads [][]byte
	settle   *settlements
}

func (s *rawSource) Run(_ context.Context, out SourceOutput) error {
	for i, p := range s.payloads {
		m := NewMessage(p)
		m.Topic = "t/1"
		m.Track(s.settle.settle, i)
		out.DeadLetter(m, errors.New("decode: not json"))
	}
	return nil
}

// strictSink refuses messages without fields, as the json encoder does, and
// fields it cannot encode (a channel).
type strictSink struct {
	mu   sync.Mutex
	got  []*Message
	fail int
}

func (s *strictSink) Write(_ context.Context, m *Message) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if m.Fields == nil {
		s.fail++
		return Permanent(errors.New("no fields"))
	}
	if f, ok := m.Fields[DeadLetterFields].(map[string]any); ok {
		if _, bad := f["ch"].(chan int); bad {
			s.fail++
			return Permanent(errors.New("cannot encode chan"))
		}
	}
	s.got = append(s.got, m)
	return nil
}

func TestDeadLetterRecordCarriesReasonAndBytes(t *testing.T) {
	st := newSettlements()
	binary := []byte{0xff, 0x00, 0xfe}
	dl := &strictSink{}
	p := New(Options{})
	mustAdd(t, p.AddSource("src", &rawSource{payloads: [][]byte{[]byte("not json"), binary}, settle: st}, NodeOptions{}))
	mustAdd(t, p.AddSink("out", &collectSink{}, []string{"src"}, NodeOptions{}))
	mustAdd(t, p.SetDeadLetter("dlq", dl, NodeOptions{}))
	mustAdd(t, p.Run(context.Background()))

	if acked, nacked := st.counts(); acked != 2 || nacked != 0 {
		t.Fatalf("acked %d nacked %d, want both acked once dead-lettered", acked, nacked)
	}
	if len(dl.got) != 2 || dl.fail != 0 {
		t.Fatalf("dead-letter sink stored %d, refused %d", len(dl.got), dl.fail)
	}
	text, bin := dl.got[0].Fields, dl.got[1].Fields
	if text[DeadLetterPayload] != "not json" || text[DeadLetterError] != "decode: not json" ||
		text[DeadLetterNode] != "src" || text[DeadLetterTopic] != "t/1" {
		t.Errorf("text record = %v", text)
	}
	if bin[DeadLetterPayloadBase64] != base64.StdEncoding.EncodeToString(binary) {
		t.Errorf("binary record = %v, want the bytes in base64", bin)
	}
	if string(dl.got[1].Payload) != string(binary) {
		t.Errorf("payload %x, want the original bytes kept", dl.got[1].Payload)
	}
}

func TestDeadLetterRecordDropsUnencodableFields(t *testing.T) {
	st := newSettlements()
	dl := &strictSink{}
	p := New(Options{})
	mustAdd(t, p.AddSource("src", &seqSource{n: 1, settle: st}, NodeOptions{}))
	mustAdd(t, p.AddStage("bad", procFunc(func(_ context.Context, m *Message, _ Emitter) error {
		m.Fields["ch"] = make(chan int)
		return errBoom
	}), []string{"src"}, NodeOptions{}))
	mustAdd(t, p.AddSink("out", &collectSink{}, []string{"bad"}, NodeOptions{}))
	mustAdd(t, p.SetDeadLetter("dlq", dl, NodeOptions{}))
	mustAdd(t, p.Run(context.Background()))
	if acked, _ := st.counts(); acked != 1 || len(dl.got) != 1 {
		t.Fatalf("acked %d, stored %d: the record without its fields should be stored", acked, len(dl.got))
	}
	if r := dl.got[0].Fields; r["fields_error"] != "cannot encode chan" || r[DeadLetterError] != "boom" {
		t.Errorf("record = %v", r)
	}
}

// flakySink fails until its connection comes back, and says when it does.
type flakySink struct {
	mu   sync.Mutex
	up   bool
	sig  chan struct{}
	seen chan struct{} // a write failed
	once sync.Once
	done time.Time
}

func (f *flakySink) Reconnected() <-chan struct{} {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.sig
}

func (f *flakySink) reconnect() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.up = true
	close(f.sig)
	f.sig = make(chan struct{})
}

func (f *flakySink) Write(context.Context, *Message) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.up {
		f.once.Do(func() { close(f.seen) })
		return errors.New("not connected")
	}
	f.done = time.Now()
	return nil
}

func TestRetryResumesWhenTheConnectionReturns(t *testing.T) {
	st := newSettlements()
	sink := &flakySink{sig: make(chan struct{}), seen: make(chan struct{})}
	p := New(Options{})
	mustAdd(t, p.AddSource("src", &seqSource{n: 1, settle: st}, NodeOptions{}))
	// A first backoff of an hour: only the reconnect can end the wait.
	mustAdd(t, p.AddSink("out", sink, []string{"src"}, NodeOptions{Retries: -1, RetryBackoff: time.Hour}))
	done := runAsync(context.Background(), p)
	<-sink.seen
	sink.reconnect()
	select {
	case err := <-done:
		mustAdd(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("the retry did not resume when the connection came back")
	}
	if acked, _ := st.counts(); acked != 1 {
		t.Fatalf("acked %d", acked)
	}
}

// reconnectingSink fails its first write and, before returning the error,
// sees its connection come back: the reconnect lands between the failed
// write and the retry's wait.
type reconnectingSink struct{ flakySink }

func (f *reconnectingSink) Write(ctx context.Context, m *Message) error {
	err := f.flakySink.Write(ctx, m)
	if err != nil {
		f.reconnect()
	}
	return err
}

// TestRetrySeesAReconnectDuringTheFailedWrite: a reconnect that happens
// while the failing write returns still ends the retry's wait (the writer
// takes the Reconnected channel before writing; taken after, it was the
// next one, and the retry slept its whole backoff).
func TestRetrySeesAReconnectDuringTheFailedWrite(t *testing.T) {
	st := newSettlements()
	sink := &reconnectingSink{flakySink{sig: make(chan struct{}), seen: make(chan struct{})}}
	p := New(Options{})
	mustAdd(t, p.AddSource("src", &seqSource{n: 1, settle: st}, NodeOptions{}))
	mustAdd(t, p.AddSink("out", sink, []string{"src"}, NodeOptions{Retries: -1, RetryBackoff: time.Hour}))
	select {
	case err := <-runAsync(context.Background(), p):
		mustAdd(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("the retry slept through a reconnect that came during the failed write")
	}
	if acked, _ := st.counts(); acked != 1 {
		t.Fatalf("acked %d", acked)
	}
}

// Messages may share one Meta map (the mqtt source hands out one per kind
// of delivery): dead-lettering one must not write into the shared map,
// which the other messages, on other goroutines, still read.
func TestDeadLetterLeavesSharedMetaAlone(t *testing.T) {
	shared := map[string]string{"origin": "plant"}
	_, good, dead := runOddsToDeadLetter(t, newSettlements(), NodeOptions{Workers: 2}, shared)

	if len(shared) != 1 || shared["origin"] != "plant" {
		t.Fatalf("shared metadata changed to %v", shared)
	}
	if len(dead.msgs) != 10 {
		t.Fatalf("dead letters %d, want 10", len(dead.msgs))
	}
	for _, m := range dead.msgs {
		if m.Meta["origin"] != "plant" || m.Meta[MetaDeadLetterNode] != "check" || m.Meta[MetaDeadLetterError] != "boom" {
			t.Fatalf("dead letter metadata %v, want the shared pairs and the reason", m.Meta)
		}
	}
	if len(good.got()) != 10 {
		t.Fatalf("delivered %d, want 10", len(good.got()))
	}
}
