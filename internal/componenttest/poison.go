package componenttest

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/edgeflow/edgeflow/pipeline"
)

// Poison kinds: what makes a PoisonSource message undeliverable.
const (
	Oversize = "oversize" // larger than the destination takes
	Invalid  = "invalid"  // lacks the "id" field the sink's address needs
)

// PoisonSource emits Good good messages with Poison poison ones spread
// evenly among them, alternately Oversize (a "blob" field of Blob bytes)
// and Invalid (no "id" field). Every message has "seq" (1..n, an int) and,
// but the invalid ones, "id". It records how each settles and samples the
// live heap into Heap (when set) every 10 messages. Spoil, when set, is
// called on each poison message's fields after that, for the sinks whose
// poison is something else (a value their format cannot encode).
type PoisonSource struct {
	Good, Poison, Blob int
	Heap               *HeapTrack
	Spoil              func(kind string, fields map[string]any)

	mu     sync.Mutex
	acked  map[int]int
	nacked map[int]error
}

// N is the number of messages the source emits.
func (s *PoisonSource) N() int { return s.Good + s.Poison }

// Kind says what message i (1..N) is: "", Oversize or Invalid.
func (s *PoisonSource) Kind(i int) string {
	k := i * s.Poison / s.N()
	switch {
	case k == (i-1)*s.Poison/s.N():
		return ""
	case k%2 == 0:
		return Invalid
	}
	return Oversize
}

// Run implements pipeline.Source.
func (s *PoisonSource) Run(_ context.Context, out pipeline.SourceOutput) error {
	s.mu.Lock()
	s.acked, s.nacked = map[int]int{}, map[int]error{}
	s.mu.Unlock()
	for i := 1; i <= s.N(); i++ {
		m := pipeline.NewMessage(nil)
		m.Key = "k"
		m.Fields = map[string]any{"seq": i, "id": "s" + strconv.Itoa(i%3)}
		switch s.Kind(i) {
		case Oversize:
			m.Fields["blob"] = strings.Repeat("x", s.Blob)
		case Invalid:
			delete(m.Fields, "id")
		}
		if k := s.Kind(i); k != "" && s.Spoil != nil {
			s.Spoil(k, m.Fields)
		}
		m.Track(s.settle, i)
		if err := out.Emit(m); err != nil {
			return err
		}
		if s.Heap != nil && i%10 == 0 {
			s.Heap.Sample()
		}
	}
	return nil
}

func (s *PoisonSource) settle(token any, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		s.nacked[token.(int)] = err
		return
	}
	s.acked[token.(int)]++
}

// DeadLetters is a dead-letter sink that keeps each dead letter's seq and
// reason, not the message, so that a heap check sees the pipeline's memory
// and not the test's.
type DeadLetters struct {
	mu     sync.Mutex
	reason map[int]string
	count  int
}

// Write implements pipeline.Sink.
func (d *DeadLetters) Write(_ context.Context, m *pipeline.Message) error {
	fields, _ := m.Fields[pipeline.DeadLetterFields].(map[string]any)
	seq, ok := fields["seq"].(int)
	if !ok {
		return pipeline.Permanent(errors.New("dead letter without a seq"))
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.reason == nil {
		d.reason = map[int]string{}
	}
	d.count++
	d.reason[seq], _ = m.Fields[pipeline.DeadLetterError].(string)
	return nil
}

// CheckPoison fails t unless every message of src settled as delivered
// (acked once, none nacked) and exactly the poison ones reached dl, once
// each, with a reason containing why[kind].
func CheckPoison(t testing.TB, src *PoisonSource, dl *DeadLetters, why map[string]string) {
	t.Helper()
	src.mu.Lock()
	defer src.mu.Unlock()
	dl.mu.Lock()
	defer dl.mu.Unlock()
	if len(src.nacked) != 0 || len(src.acked) != src.N() {
		t.Fatalf("acked %d, nacked %d of %d: %v", len(src.acked), len(src.nacked), src.N(), src.nacked)
	}
	if dl.count != src.Poison || len(dl.reason) != src.Poison {
		t.Fatalf("%d dead letters of %d messages, want the %d poison messages once each", dl.count, len(dl.reason), src.Poison)
	}
	for i := 1; i <= src.N(); i++ {
		reason, dead := dl.reason[i]
		switch k := src.Kind(i); {
		case k == "" && dead:
			t.Errorf("good seq %d dead-lettered for %q", i, reason)
		case k != "" && !strings.Contains(reason, why[k]):
			t.Errorf("%s seq %d dead-lettered for %q, want a reason with %q", k, i, reason, why[k])
		}
	}
}

// StreamPoison runs src into sink (up to 32 per batch, retried for ever:
// a temporary error would hang the run, so only failures the sink reports
// as permanent end a message) with dead letters, tracking the heap in
// src.Heap, and then checks the outcome as CheckPoison does.
func StreamPoison(ctx context.Context, t testing.TB, src *PoisonSource, sink pipeline.Sink, why map[string]string) {
	t.Helper()
	dead := &DeadLetters{}
	p := pipeline.New(pipeline.Options{})
	if err := errors.Join(p.AddSource("src", src, pipeline.NodeOptions{}),
		p.AddSink("out", sink, []string{"src"}, pipeline.NodeOptions{Retries: -1, BatchSize: 32}),
		p.SetDeadLetter("dead", dead, pipeline.NodeOptions{})); err != nil {
		t.Fatal(err)
	}
	src.Heap = StartHeap()
	if err := p.Run(ctx); err != nil {
		t.Fatal(err)
	}
	src.Heap.Stop()
	CheckPoison(t, src, dead, why)
}
