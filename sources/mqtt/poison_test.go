package mqtt

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edgeflow/edgeflow/internal/brokertest"
	"github.com/edgeflow/edgeflow/internal/componenttest"
	"github.com/edgeflow/edgeflow/pipeline"
)

// picky fails every message whose seq reject says, every time, with an
// error the engine takes for a passing one: the source nacks it and the
// broker redelivers it.
type picky struct {
	mu       sync.Mutex
	reject   func(seq int) bool
	attempts map[int]int
	ok       map[int]int
	writes   int
	heap     *componenttest.HeapTrack // sampled every 10 writes, when set
}

func (p *picky) Write(_ context.Context, m *pipeline.Message) error {
	p.mu.Lock()
	seq := int(m.Fields["seq"].(float64))
	p.attempts[seq]++
	p.writes++
	sample := p.heap != nil && p.writes%10 == 0
	var err error
	if p.reject(seq) {
		err = errors.New("rejected for good")
	} else {
		p.ok[seq]++
	}
	p.mu.Unlock()
	if sample {
		p.heap.Sample()
	}
	return err
}

// alwaysFails is a dead-letter sink that is down for good.
type alwaysFails struct{}

func (a *alwaysFails) Write(context.Context, *pipeline.Message) error {
	return errors.New("dead-letter store down")
}

// poisonKind says what message seq (0..n-1) of a stream with poison of n
// poison messages is: "" (good), "undecodable" (not JSON) or "rejected"
// (the sink fails it on every delivery), spread evenly and alternating.
func poisonKind(seq, n, poison int) string {
	k := (seq + 1) * poison / n
	switch {
	case k == seq*poison/n:
		return ""
	case k%2 == 0:
		return "undecodable"
	}
	return "rejected"
}

// A message that fails on every delivery is dead-lettered after
// max_deliver deliveries, with its last error; one that does not decode is
// dead-lettered at once; the others are delivered, each once. Before, a
// failing message was nacked and redelivered every redelivery_delay for
// ever. Memory stays flat: the poison messages carry 64 KB each, and a
// stream with ten times as many leaves no more live heap behind nor creeps
// while it runs (nothing of a dead-lettered message, such as its
// redelivery count, stays behind).
func TestPoisonMessageDeadLetteredAfterMaxDeliver(t *testing.T) {
	b := brokertest.StartMosquitto(t, brokertest.MosquittoConfig{})
	pad := strings.Repeat("x", 64<<10)
	stream := func(poison int) *componenttest.HeapTrack {
		const good = 100
		n := good + poison
		kind := func(seq int) string { return poisonKind(seq, n, poison) }
		id := "edge-poison-" + strconv.Itoa(poison)
		conn := newConn(t, b.URL(), id)
		src := source(t, conn, "{connection: broker, topics: [p/#], max_deliver: 3}")
		heap := componenttest.StartHeap()
		out := &picky{reject: func(seq int) bool { return kind(seq) == "rejected" }, attempts: map[int]int{}, ok: map[int]int{}, heap: heap}
		dl := newCollector()
		stop := running(t, conn, src, out, dl)
		publishSeq(t, publisher(t, b.URL(), "pub-"+id), "p/a", 0, n, func(seq int) []byte {
			switch kind(seq) {
			case "undecodable":
				return []byte(fmt.Sprintf("bad-%d %s", seq, pad))
			case "rejected":
				return []byte(fmt.Sprintf(`{"seq": %d, "pad": %q}`, seq, pad))
			}
			return nil
		})
		componenttest.WaitFor(t, 90*time.Second, "good delivered and poison dead-lettered", func() bool {
			d, _ := dl.count()
			out.mu.Lock()
			defer out.mu.Unlock()
			return d == poison && len(out.ok) == good
		})
		time.Sleep(time.Second) // would any poison come back once more?
		stop()
		heap.Stop()
		dups := 0
		for seq := range n {
			out.mu.Lock()
			a, ok := out.attempts[seq], out.ok[seq]
			out.mu.Unlock()
			switch kind(seq) {
			case "rejected":
				if a != 3 || !dl.has(seq) {
					t.Errorf("poison %d: processed %d times (want max_deliver = 3), dead-lettered %v", seq, a, dl.has(seq))
				}
				if r := dl.errs[seq]; !strings.Contains(r, "gave up after 3 failed deliveries") || !strings.Contains(r, "rejected for good") {
					t.Errorf("poison %d: reason %q", seq, r)
				}
			case "undecodable":
				if a != 0 || !dl.has(seq) {
					t.Errorf("undecodable %d: processed %d times, dead-lettered %v", seq, a, dl.has(seq))
				}
				if r := dl.errs[seq]; !strings.Contains(r, "json") {
					t.Errorf("undecodable %d: reason %q", seq, r)
				}
			default:
				if ok != 1 || dl.has(seq) {
					t.Errorf("good %d delivered %d times (want once), dead-lettered %v", seq, ok, dl.has(seq))
				}
				dups += max(ok-1, 0)
			}
		}
		// Each poison message's redelivery is a reconnect (MQTT 3.1.1
		// resends only then), and the broker then resends every message
		// not yet acknowledged. The connection first lets the pipeline
		// settle what it holds (quiesce), so nothing comes back twice.
		distinct, total := dl.count()
		if distinct != poison || total != poison {
			t.Errorf("%d messages dead-lettered (%d distinct), want the %d poison ones once each", total, distinct, poison)
		}
		t.Logf("%d poison: %d duplicate deliveries of good messages, %d duplicate dead letters, %d redelivery reconnects",
			poison, dups, total-distinct, conn.Stats().RedeliveryReconnects)
		return heap
	}
	few := stream(10)
	many := stream(100)
	componenttest.FlatHeap(t, few, many, 2<<20)
}

// When the dead-letter sink fails too, the message is dropped with an error
// after max_deliver + 3 deliveries instead of looping for ever.
func TestPoisonWithFailingDeadLetterStops(t *testing.T) {
	b := brokertest.StartMosquitto(t, brokertest.MosquittoConfig{})
	conn := newConn(t, b.URL(), "edge-poison-dl")
	src := source(t, conn, "{connection: broker, topics: [p/#], max_deliver: 2}")
	out := &picky{reject: func(seq int) bool { return seq == 1 }, attempts: map[int]int{}, ok: map[int]int{}}
	stop := running(t, conn, src, out, &alwaysFails{})
	publishSeq(t, publisher(t, b.URL(), "pub-poison-dl"), "p/a", 0, 3, func(int) []byte { return nil })
	componenttest.WaitFor(t, 60*time.Second, "the poison message dropped", func() bool {
		return conn.Stats().Acked == 3
	})
	received := conn.Stats().Received
	time.Sleep(2 * time.Second) // several redelivery delays
	stop()
	if got := conn.Stats().Received; got != received {
		t.Errorf("received %d more after the drop: the loop goes on", got-received)
	}
	// 2 deliveries processed, then 3 dead-letter attempts, then the drop.
	if want := uint64(3 + 2 + 3); received != want {
		t.Errorf("received %d PUBLISHes, want %d", received, want)
	}
}
