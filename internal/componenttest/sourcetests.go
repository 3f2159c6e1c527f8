package componenttest

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"
)

// sourceTests are the source conformance tests. needs returns why a test
// does not apply to a source with the given features, or "".
var sourceTests = []struct {
	name  string
	needs func(SourceFeatures) string
	run   func(*testing.T, SourceHarness)
}{
	{"DeliversEverything", nil, testDeliversEverything},
	{"AcknowledgesOnlyAfterDelivery", needsAcks, testAcknowledgesOnlyAfterDelivery},
	{"NackRedelivers", needsAcks, testNackRedelivers},
	{"DrainOnStop", nil, testDrainOnStop},
}

func needsAcks(f SourceFeatures) string {
	if !f.Acknowledges {
		return "the source does not acknowledge to a broker (Features.Acknowledges is false)"
	}
	return ""
}

// Every published message is delivered once (in order if Ordered), and a
// Finite source ends by itself.
func testDeliversEverything(t *testing.T, h SourceHarness) {
	const n = 20
	gate := NewGate(true)
	if !h.Features.Live {
		h.Publish(t, seqs(0, n)...)
	}
	c := consume(t, h, gate, 5*time.Second)
	if h.Features.Live {
		c.warmUp(h)
		h.Publish(t, seqs(0, n)...)
	}
	WaitFor(t, 10*time.Second, fmt.Sprintf("%d messages", n), func() bool { return gate.has(seqs(0, n)...) })
	if h.Features.Finite {
		c.wait(10 * time.Second)
	} else {
		c.stop()
	}
	got := gate.Delivered()
	for seq, k := range counts(got) {
		if k != 1 {
			t.Errorf("message %d delivered %d times", seq, k)
		}
	}
	if h.Features.Ordered && !slices.Equal(got, seqs(0, n)) {
		t.Errorf("delivered out of order: %v", got)
	}
	c.noDeadLetters()
}

// While the sink holds a message, the broker has no acknowledgement for it:
// as far as it is visible (Unacked), and in that a new consumer gets the
// message again after the first one stopped without delivering it. Once
// delivered, the acknowledgements reach the broker: nothing comes back.
func testAcknowledgesOnlyAfterDelivery(t *testing.T, h SourceHarness) {
	const n = 3
	h.Publish(t, seqs(0, n)...)
	gate := NewGate(false)
	// A short drain timeout: the stop below aborts with the gate shut.
	c := consume(t, h, gate, 200*time.Millisecond)
	c.aborts = true
	WaitFor(t, 10*time.Second, "the sink to hold a message", func() bool { return gate.Held() > 0 })
	if h.Unacked != nil {
		if !waitUntil(2*time.Second, func() bool { return h.Unacked(t) >= n }) {
			t.Fatalf("the broker counts %d unacknowledged messages while the sink holds all %d: acknowledged before delivery",
				h.Unacked(t), n)
		}
		for end := time.Now().Add(500 * time.Millisecond); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
			if u := h.Unacked(t); u < n {
				t.Fatalf("the broker counts %d unacknowledged messages while the sink holds all %d: acknowledged before delivery", u, n)
			}
		}
	}
	c.stop() // aborts: the held messages fail
	if d := gate.Delivered(); len(d) > 0 {
		t.Fatalf("delivered %v through a shut gate", d)
	}
	if !h.Features.Resumes {
		return
	}
	again := NewGate(true)
	c2 := consume(t, h, again, 5*time.Second)
	if !waitUntil(h.redelivery(), func() bool { return again.has(seqs(0, n)...) }) {
		t.Fatalf("a new consumer got %v, want all of %v again: the first acknowledged messages it never delivered",
			again.Delivered(), seqs(0, n))
	}
	c2.stop()
	if h.Unacked != nil {
		WaitFor(t, 5*time.Second, "the broker to have every acknowledgement", func() bool { return h.Unacked(t) == 0 })
	}
	// A third consumer gets only what is new: the second acknowledged
	// what it delivered.
	third := NewGate(true)
	c3 := consume(t, h, third, 5*time.Second)
	h.Publish(t, n)
	WaitFor(t, 10*time.Second, "a new message", func() bool { return third.has(n) })
	c3.stop()
	if got := third.Delivered(); !slices.Equal(got, []int{n}) {
		t.Errorf("after a clean stop a new consumer got %v, want only [%d]: acknowledgements were lost", got, n)
	}
	c.noDeadLetters()
	c2.noDeadLetters()
}

// A message whose delivery failed is delivered again, by the same running
// source.
func testNackRedelivers(t *testing.T, h SourceHarness) {
	h.Publish(t, 0, 1)
	gate := NewGate(true)
	gate.Fail = func(seq, attempt int) error {
		if seq == 0 && attempt == 1 {
			return errors.New("conformance: first delivery refused")
		}
		return nil
	}
	c := consume(t, h, gate, 5*time.Second)
	if !waitUntil(h.redelivery(), func() bool { return gate.has(0, 1) }) {
		t.Fatalf("delivered %v after %d attempt(s) at message 0: a failed message must come back",
			gate.Delivered(), gate.Attempts(0))
	}
	c.stop()
	if a := gate.Attempts(0); a != 2 {
		t.Errorf("message 0 written %d times, want 2 (one failure, one delivery)", a)
	}
	c.noDeadLetters()
}

// Stopping while the sink holds messages waits for them: every message the
// source emitted is delivered, none failed, and a source that Resumes hands
// the rest to the next consumer: nothing is lost.
func testDrainOnStop(t *testing.T, h SourceHarness) {
	const n = 10
	gate := NewGate(false)
	if !h.Features.Live {
		h.Publish(t, seqs(0, n)...)
	}
	c := consume(t, h, gate, 10*time.Second)
	if h.Features.Live {
		c.warmUp(h)
		h.Publish(t, seqs(0, n)...)
	}
	WaitFor(t, 10*time.Second, "the sink to hold a message", func() bool { return gate.Held() > 0 })
	c.cancel()                         // stop: the source ends, the pipeline drains...
	time.Sleep(100 * time.Millisecond) // ...while the sink still holds
	gate.Open()
	c.wait(10 * time.Second)
	st, _ := c.p.Stats("src")
	if st.Nacked != 0 || st.Acked != st.Received {
		t.Errorf("source emitted %d, acked %d, nacked %d: a drain must deliver every emitted message",
			st.Received, st.Acked, st.Nacked)
	}
	first := gate.Delivered()
	if emitted := st.Received - uint64(gate.Probes()); len(first) == 0 || uint64(len(first)) != emitted {
		t.Errorf("delivered %v, the source emitted %d", first, emitted)
	}
	for seq, k := range counts(first) {
		if k != 1 {
			t.Errorf("message %d delivered %d times", seq, k)
		}
	}
	c.noDeadLetters()
	if !h.Features.Resumes {
		return
	}
	rest := NewGate(true)
	c2 := consume(t, h, rest, 5*time.Second)
	all := func() bool { return len(counts(append(first, rest.Delivered()...))) == n }
	if !waitUntil(h.redelivery(), all) {
		t.Fatalf("first consumer delivered %v, the next %v: messages lost", first, rest.Delivered())
	}
	c2.stop()
	for _, seq := range rest.Delivered() {
		if slices.Contains(first, seq) {
			t.Errorf("message %d delivered again after a clean stop", seq)
		}
	}
}

// waitUntil polls cond until it holds or timeout passes.
func waitUntil(timeout time.Duration, cond func() bool) bool {
	for end := time.Now().Add(timeout); ; time.Sleep(20 * time.Millisecond) {
		if cond() {
			return true
		}
		if time.Now().After(end) {
			return false
		}
	}
}
