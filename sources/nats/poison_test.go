package nats_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/edgeflow/edgeflow/internal/brokertest"
	"github.com/edgeflow/edgeflow/internal/componenttest"
	"github.com/edgeflow/edgeflow/pipeline"
)

// A sink outage longer than max_deliver deliveries sends nothing to the
// dead-letter sink (its failures are Unavailable: not the message's fault),
// while a message that also fails at the dead-letter sink is terminated
// after max_deliver + 3 deliveries instead of being naked for ever.
func TestOutageDoesNotCountAndFailingDeadLetterTerminates(t *testing.T) {
	srv := brokertest.StartNATS(t, brokertest.NATSConfig{JetStream: true})
	_, js := admin(t, srv.URL())
	conn := startConn(t, "url: "+srv.URL())
	src, err := newSource(t, conn, `subjects: [work.>]
codec: raw
jetstream:
  stream: WORK
  durable: outage
  max_deliver: 2
  nak_delay: 20ms
  max_nak_delay: 50ms`)
	if err != nil {
		t.Fatal(err)
	}
	var down atomic.Bool
	down.Store(true)
	out := newCollector(func(m *pipeline.Message) error {
		switch {
		case string(m.Payload) == "poison":
			return errors.New("rejected for good")
		case down.Load():
			return pipeline.Unavailable(errors.New("sink not connected"))
		}
		return nil
	})
	dl := newCollector(func(*pipeline.Message) error { return errors.New("dead-letter store down") })
	p := pipeline.New(pipeline.Options{Name: "outage", Logger: &logger})
	p.AddSource("src", src, pipeline.NodeOptions{})
	p.AddSink("out", out, []string{"src"}, pipeline.NodeOptions{})
	p.SetDeadLetter("dl", dl, pipeline.NodeOptions{})
	r := run(t, p)
	componenttest.WaitFor(t, 15*time.Second, "the stream", func() bool {
		_, err := js.Stream(context.Background(), "WORK")
		return err == nil
	})
	for _, s := range []string{"good", "poison"} {
		if _, err := js.Publish(context.Background(), "work.a", []byte(s)); err != nil {
			t.Fatal(err)
		}
	}
	componenttest.WaitFor(t, 15*time.Second, "many outage deliveries", func() bool { return out.attemptsFor("good") >= 6 })
	down.Store(false)
	componenttest.WaitFor(t, 15*time.Second, "the good message", func() bool { return out.count() == 1 })
	componenttest.WaitFor(t, 15*time.Second, "the poison message terminated", func() bool {
		info, err := js.Consumer(context.Background(), "WORK", "outage")
		return err == nil && info.CachedInfo().NumAckPending == 0 && info.CachedInfo().NumPending == 0 &&
			dl.attemptsFor("poison") > 0
	})
	attempts := dl.attemptsFor("poison")
	time.Sleep(500 * time.Millisecond) // ten nak delays: would it come back?
	r.stop(t)
	if dl.attemptsFor("good") != 0 {
		t.Errorf("the good message was dead-lettered by the outage")
	}
	if got := dl.attemptsFor("poison"); got != 3 || got != attempts {
		t.Errorf("dead-letter attempts for the poison message: %d (then %d), want 3", attempts, got)
	}
}

// poisonSink counts by seq what it is given and keeps nothing else (no
// message), so that a heap check sees the pipeline's memory and not the
// test's. It fails the seqs reject says, on every delivery, and samples
// the live heap into heap every 10 writes.
type poisonSink struct {
	mu       sync.Mutex
	reject   func(seq int) bool
	heap     *componenttest.HeapTrack
	writes   int
	attempts map[int]int
	ok       map[int]int
	reason   map[int]string
}

func newPoisonSink(reject func(int) bool, heap *componenttest.HeapTrack) *poisonSink {
	return &poisonSink{reject: reject, heap: heap, attempts: map[int]int{}, ok: map[int]int{}, reason: map[int]string{}}
}

func (s *poisonSink) Write(_ context.Context, m *pipeline.Message) error {
	seq := -1
	fields := m.Fields
	if f, ok := fields[pipeline.DeadLetterFields].(map[string]any); ok {
		fields = f // a dead-letter record
	}
	if v, ok := fields["seq"].(float64); ok {
		seq = int(v)
	} else if n, err := fmt.Sscanf(string(m.Payload), "bad-%d", &seq); n != 1 || err != nil {
		return pipeline.Permanent(fmt.Errorf("no seq in %.20q", m.Payload))
	}
	s.mu.Lock()
	s.writes++
	sample := s.heap != nil && s.writes%10 == 0
	s.attempts[seq]++
	var err error
	if s.reject != nil && s.reject(seq) {
		err = errors.New("rejected for good")
	} else {
		s.ok[seq]++
		s.reason[seq] = m.Meta[pipeline.MetaDeadLetterError]
	}
	s.mu.Unlock()
	if sample {
		s.heap.Sample()
	}
	return err
}

func (s *poisonSink) counts() (distinct, total int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, n := range s.ok {
		total += n
	}
	return len(s.ok), total
}

// poisonKind says what message seq (0..n-1) of a stream with poison of n
// poison messages is: "" (good), "undecodable" (not JSON) or "rejected"
// (the sink fails it on every delivery), spread evenly and alternating.
// Core NATS has no redelivery, so there every poison one is undecodable.
func poisonKind(seq, n, poison int, core bool) string {
	k := (seq + 1) * poison / n
	switch {
	case k == seq*poison/n:
		return ""
	case k%2 == 0 || core:
		return "undecodable"
	}
	return "rejected"
}

// Undecodable payloads, and (JetStream) payloads the sink rejects on every
// delivery, mixed into a stream: each good one is delivered once, each
// poison one dead-lettered once with its reason (the rejected ones after
// max_deliver = 3 deliveries), the consumer ends with nothing pending, and
// memory stays flat: the poison messages carry 64 KB each, and a stream
// with ten times as many leaves no more live heap behind nor creeps while
// it runs.
func TestPoisonMemoryStaysFlat(t *testing.T) {
	srv := brokertest.StartNATS(t, brokertest.NATSConfig{JetStream: true})
	nc, js := admin(t, srv.URL())
	pad := strings.Repeat("x", 64<<10)
	for _, mode := range []string{"jetstream", "core"} {
		t.Run(mode, func(t *testing.T) {
			stream := func(poison int) *componenttest.HeapTrack {
				const good = 100
				n := good + poison
				kind := func(seq int) string { return poisonKind(seq, n, poison, mode == "core") }
				name := fmt.Sprintf("%s%d", mode, poison)
				conn := startConn(t, "url: "+srv.URL())
				conf := "subjects: [" + name + ".>]\n"
				if mode == "jetstream" {
					conf += "jetstream:\n  stream: " + strings.ToUpper(name) + "\n  durable: " + name +
						"\n  max_deliver: 3\n  nak_delay: 20ms\n  max_nak_delay: 50ms\n"
				}
				src, err := newSource(t, conn, conf)
				if err != nil {
					t.Fatal(err)
				}
				heap := componenttest.StartHeap()
				out := newPoisonSink(func(seq int) bool { return kind(seq) == "rejected" }, heap)
				dl := newPoisonSink(nil, nil)
				p := pipeline.New(pipeline.Options{Name: name, Logger: &logger})
				if err := errors.Join(p.AddSource("src", src, pipeline.NodeOptions{}),
					p.AddSink("out", out, []string{"src"}, pipeline.NodeOptions{}),
					p.SetDeadLetter("dl", dl, pipeline.NodeOptions{})); err != nil {
					t.Fatal(err)
				}
				r := run(t, p)
				own, _ := conn.Client()
				if mode == "jetstream" {
					componenttest.WaitFor(t, 15*time.Second, "stream", func() bool {
						_, err := js.Stream(context.Background(), strings.ToUpper(name))
						return err == nil
					})
				} else {
					componenttest.WaitFor(t, 15*time.Second, "subscription", func() bool { return own.NumSubscriptions() > 0 })
					own.Flush()
				}
				for seq := range n {
					data := fmt.Sprintf(`{"seq":%d}`, seq)
					switch kind(seq) {
					case "undecodable":
						data = fmt.Sprintf("bad-%d %s", seq, pad)
					case "rejected":
						data = fmt.Sprintf(`{"seq":%d,"pad":%q}`, seq, pad)
					}
					publish(t, mode, nc, js, name+".a", data)
				}
				componenttest.WaitFor(t, 60*time.Second, "good delivered and poison dead-lettered", func() bool {
					g, _ := out.counts()
					d, _ := dl.counts()
					return g == good && d == poison
				})
				time.Sleep(300 * time.Millisecond) // would anything come back?
				r.stop(t)
				heap.Stop()
				for seq := range n {
					a, ok, dead, reason := out.attempts[seq], out.ok[seq], dl.ok[seq], dl.reason[seq]
					switch kind(seq) {
					case "rejected":
						if a != 3 || dead != 1 || !strings.Contains(reason, "gave up after 3 failed deliveries") {
							t.Errorf("rejected %d: processed %d times (want max_deliver = 3), dead-lettered %d times for %q", seq, a, dead, reason)
						}
					case "undecodable":
						if a != 0 || dead != 1 || !strings.Contains(reason, "decode") {
							t.Errorf("undecodable %d: processed %d times, dead-lettered %d times for %q", seq, a, dead, reason)
						}
					default:
						if ok != 1 || dead != 0 {
							t.Errorf("good %d delivered %d times, dead-lettered %d", seq, ok, dead)
						}
					}
				}
				if _, total := dl.counts(); total != poison {
					t.Errorf("%d dead letters, want each of the %d poison messages once", total, poison)
				}
				if mode == "jetstream" {
					info := consumerInfo(t, js, strings.ToUpper(name), name)
					if info.NumAckPending != 0 || info.NumPending != 0 {
						t.Errorf("consumer left ack pending %d, pending %d", info.NumAckPending, info.NumPending)
					}
				}
				return heap
			}
			few := stream(10)
			many := stream(100)
			componenttest.FlatHeap(t, few, many, 2<<20)
		})
	}
}
