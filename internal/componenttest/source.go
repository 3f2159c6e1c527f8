package componenttest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/edgeflow/edgeflow/pipeline"
)

// SourceFeatures declares what a source guarantees. The conformance tests
// a feature rules out are skipped, saying which feature.
type SourceFeatures struct {
	// Acknowledges: the source acknowledges each message to its broker
	// only once the pipeline has settled it, and a failed (nacked) message
	// is delivered again (at least once: MQTT QoS 1, JetStream). False for
	// core NATS (at most once) and sources with no broker to tell (file,
	// generate).
	Acknowledges bool
	// Resumes: a source that the harness builds after another one stopped
	// takes up where that one left off: messages published meanwhile, and
	// those it left unacknowledged, reach the new one (persistent MQTT
	// session, durable JetStream consumer).
	Resumes bool
	// Live: messages published before the source has subscribed are lost
	// (core NATS). The suite then sends probes until one gets through
	// before it publishes.
	Live bool
	// Finite: the source ends by itself once it has emitted what was
	// published (file, generate with a count).
	Finite bool
	// Ordered: without failures, messages arrive in the order published.
	Ordered bool
	// RedeliveryTimeout bounds how long a nacked or unacknowledged message
	// may take to come back to a running or a new consumer (default 5s).
	// Keep the harness's redelivery delays short and this tight: a source
	// that acknowledges too early fails only once it has run out.
	RedeliveryTimeout time.Duration
}

// SourceHarness is what a source's conformance_test.go gives the suite. A
// fresh harness is made for each test, with a broker (or file) of its own.
type SourceHarness struct {
	Features SourceFeatures
	// Publish makes the messages with these sequence numbers available to
	// the source, in order: on the broker, each with Payload(seq), or in
	// the source's own terms (see Seq).
	Publish func(t *testing.T, seqs ...int)
	// New returns a source that consumes what Publish published, with what
	// it needs (its connection) started, and a function that closes that.
	// Sources from successive calls are the same consumer to the broker
	// (client id, durable name). The suite calls stop once, after the
	// pipeline running the source has stopped.
	New func(t *testing.T) (src pipeline.Source, stop func())
	// Unacked, when set, asks the broker how many messages it has handed
	// to the consumer and not seen acknowledged (JetStream's
	// NumAckPending). Acknowledgement is then checked at the broker while
	// the pipeline still holds the messages.
	Unacked func(t *testing.T) int
	// Seq reads a message's sequence number (SeqOf when nil).
	Seq func(*pipeline.Message) (int, bool)
}

func (h SourceHarness) redelivery() time.Duration {
	if h.Features.RedeliveryTimeout > 0 {
		return h.Features.RedeliveryTimeout
	}
	return 5 * time.Second
}

// consumer is one run of a harness's source: source -> gate, with a
// dead-letter collector, in a pipeline of its own.
type consumer struct {
	t      *testing.T
	p      *pipeline.Pipeline
	gate   *Gate
	dead   *Collector
	cancel context.CancelFunc
	done   chan error
	close  func()
	ended  bool
	// aborts says the test stops with messages held on purpose: Run then
	// reports the incomplete drain, which is what the test wants.
	aborts bool
}

// consume starts a new source of h delivering into gate. drain is the
// pipeline's drain timeout: how long a stop waits for held messages.
func consume(t *testing.T, h SourceHarness, gate *Gate, drain time.Duration) *consumer {
	t.Helper()
	gate.Seq = h.Seq
	src, closeSrc := h.New(t)
	c := &consumer{t: t, gate: gate, dead: &Collector{}, done: make(chan error, 1), close: closeSrc,
		p: pipeline.New(pipeline.Options{Name: "conformance", Buffer: 16, DrainTimeout: drain})}
	// Retries 0: a failed write nacks its message at once.
	if err := errors.Join(c.p.AddSource("src", src, pipeline.NodeOptions{}),
		c.p.AddSink("out", gate, []string{"src"}, pipeline.NodeOptions{Retries: 0}),
		c.p.SetDeadLetter("dead", c.dead, pipeline.NodeOptions{})); err != nil {
		closeSrc()
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	c.cancel = cancel
	go func() { c.done <- c.p.Run(ctx) }()
	t.Cleanup(func() { c.stop() })
	return c
}

// stop asks the pipeline to stop, waits for it (bounded) and closes what
// the source used.
func (c *consumer) stop() {
	c.t.Helper()
	c.cancel()
	c.wait(15 * time.Second)
}

// wait waits for the pipeline to end by itself (or after stop).
func (c *consumer) wait(timeout time.Duration) {
	c.t.Helper()
	if c.ended {
		return
	}
	c.ended = true
	defer c.close()
	select {
	case err := <-c.done:
		if err != nil && !(c.aborts && errors.Is(err, pipeline.ErrDrainIncomplete)) {
			c.t.Errorf("pipeline: %v", err)
		}
	case <-time.After(timeout):
		c.cancel()
		c.t.Fatalf("the pipeline did not stop within %s", timeout)
	}
}

// warmUp sends probes until one has got through, for Live sources.
func (c *consumer) warmUp(h SourceHarness) {
	c.t.Helper()
	if !h.Features.Live {
		return
	}
	WaitFor(c.t, 10*time.Second, "a probe to get through the source", func() bool {
		h.Publish(c.t, -1)
		time.Sleep(30 * time.Millisecond)
		return c.gate.Probes() > 0
	})
}

// noDeadLetters fails the test if the consumer dead-lettered anything.
func (c *consumer) noDeadLetters() {
	c.t.Helper()
	for _, m := range c.dead.Messages() {
		c.t.Errorf("dead-lettered: %s (payload %q)", m.Meta[pipeline.MetaDeadLetterError], m.Payload)
	}
}

// TestSource runs the source conformance tests, each on a fresh harness.
func TestSource(t *testing.T, newHarness func(t *testing.T) SourceHarness) {
	for _, tc := range sourceTests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			if tc.needs != nil {
				if why := tc.needs(h.Features); why != "" {
					t.Skip(why)
				}
			}
			tc.run(t, h)
		})
	}
}

func seqs(from, to int) []int {
	out := make([]int, 0, to-from)
	for i := from; i < to; i++ {
		out = append(out, i)
	}
	return out
}

// counts returns how often each seq occurs.
func counts(xs []int) map[int]int {
	m := map[int]int{}
	for _, x := range xs {
		m[x]++
	}
	return m
}
