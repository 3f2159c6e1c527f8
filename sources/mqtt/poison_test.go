package mqtt

import (
	"context"
	"errors"
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
}

func (p *picky) Write(_ context.Context, m *pipeline.Message) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	seq := int(m.Fields["seq"].(float64))
	p.attempts[seq]++
	if p.reject(seq) {
		return errors.New("rejected for good")
	}
	p.ok[seq]++
	return nil
}

// alwaysFails is a dead-letter sink that is down for good.
type alwaysFails struct{ n sync.Map }

func (a *alwaysFails) Write(context.Context, *pipeline.Message) error {
	return errors.New("dead-letter store down")
}

// A message that fails on every delivery is dead-lettered, once, after
// max_deliver deliveries, with its last error; the others are delivered
// once. Before, it was nacked and redelivered every redelivery_delay for
// ever.
func TestPoisonMessageDeadLetteredAfterMaxDeliver(t *testing.T) {
	b := brokertest.StartMosquitto(t, brokertest.MosquittoConfig{})
	conn := newConn(t, b.URL(), "edge-poison")
	src := source(t, conn, "{connection: broker, topics: [p/#], max_deliver: 3}")
	out := &picky{reject: func(seq int) bool { return seq%10 == 0 }, attempts: map[int]int{}, ok: map[int]int{}}
	dl := newCollector()
	stop := running(t, conn, src, out, dl)

	const n = 100
	publishSeq(t, publisher(t, b.URL(), "pub-poison"), "p/a", 0, n, func(int) []byte { return nil })
	componenttest.WaitFor(t, 60*time.Second, "good delivered and poison dead-lettered", func() bool {
		d, _ := dl.count()
		out.mu.Lock()
		defer out.mu.Unlock()
		return d == n/10 && len(out.ok) == n-n/10
	})
	time.Sleep(time.Second) // would any poison come back once more?
	stop()
	for seq := range n {
		out.mu.Lock()
		a, ok := out.attempts[seq], out.ok[seq]
		out.mu.Unlock()
		if seq%10 == 0 {
			if a != 3 || !dl.has(seq) {
				t.Errorf("poison %d: processed %d times (want max_deliver = 3), dead-lettered %v", seq, a, dl.has(seq))
			}
			if r := dl.errs[seq]; !strings.Contains(r, "gave up after 3 failed deliveries") || !strings.Contains(r, "rejected for good") {
				t.Errorf("poison %d: reason %q", seq, r)
			}
			continue
		}
		if ok != 1 {
			t.Errorf("good %d delivered %d times", seq, ok)
		}
	}
	if _, total := dl.count(); total != n/10 {
		t.Errorf("%d dead letters, want each poison message once", total)
	}
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
