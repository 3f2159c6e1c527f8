package pipeline

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Kind says what role a node plays in the graph.
type Kind int

const (
	KindSource Kind = iota
	KindStage
	KindSink
)

func (k Kind) String() string {
	switch k {
	case KindSource:
		return "source"
	case KindStage:
		return "stage"
	default:
		return "sink"
	}
}

// NodeOptions tune how the engine runs one node. The zero value is usable:
// it takes the pipeline's default buffer, blocks on overflow and runs one
// worker.
type NodeOptions struct {
	// Buffer is the capacity of the node's input queue (all edges into the
	// node share it). Zero means the pipeline's default.
	Buffer int
	// Overflow is what the input queue does when full.
	Overflow Overflow
	// Workers is how many goroutines process the input. Zero means one.
	Workers int
	// Ordered keeps output in input order when Workers > 1.
	Ordered bool
	// BatchSize is the largest batch handed to a BatchProcessor or BatchSink.
	// Zero means 1 for a BatchProcessor and 64 for a BatchSink.
	BatchSize int
	// BatchDelay is how long a BatchProcessor waits for a batch to fill
	// before it runs a partial one. Zero runs whatever is queued at once.
	BatchDelay time.Duration
	// Retries is how often a sink retries a failed write before the
	// message is nacked; negative retries until the pipeline aborts.
	Retries int
	// RetryBackoff is the first pause between retries; it doubles up to 30s.
	RetryBackoff time.Duration
}

// nodeStats are the per-node counters behind the metrics. They are plain
// atomics so the hot path pays no label lookups.
type nodeStats struct {
	received atomic.Uint64
	emitted  atomic.Uint64
	errors   atomic.Uint64
	acked    atomic.Uint64 // sources: messages settled without error
	nacked   atomic.Uint64 // sources: messages settled with an error
}

// Stats is a snapshot of one node's counters.
type Stats struct {
	Received, Emitted, Dropped, Errors uint64
	// Acked and Nacked count settled source messages (sources only).
	Acked, Nacked uint64
	// QueueDepth and QueueCapacity describe the node's input queue.
	QueueDepth, QueueCapacity int
}

type node struct {
	p      *Pipeline
	name   string
	kind   Kind
	inputs []string
	opts   NodeOptions

	source Source
	proc   Processor
	batch  BatchProcessor
	sink   Sink
	impl   any // the component, for Flusher and Closer

	in    *queue
	outs  []*queue
	stats nodeStats
	// coalesce is set by a single-worker stage's loop while it is
	// saturated and its calls are quick: its emits may then defer waking
	// downstream consumers (see queue), and deferred records that one did.
	coalesce, deferred atomic.Bool
	latency            prometheus.Observer
	e2e                prometheus.Observer // sinks but the dead-letter one: ingest to delivery
}

func (n *node) String() string { return fmt.Sprintf("%s %q", n.kind, n.name) }

// emit sends m, which the caller holds a reference to, to every downstream
// queue. Extra branches get clones, made before m is handed over so that no
// consumer can change m while it is copied.
func (n *node) emit(m *Message) {
	n.stats.emitted.Add(1)
	m.add(int32(len(n.outs)))
	coalesce := n.coalesce.Load()
	if coalesce && !n.deferred.Load() {
		n.deferred.Store(true)
	}
	for i := len(n.outs) - 1; i > 0; i-- {
		n.pushTo(n.outs[i], m.Clone(), coalesce)
	}
	n.pushTo(n.outs[0], m, coalesce)
}

// pushTo enqueues m on q. Before it may wait for room, it wakes the
// consumers it left asleep: they may be what the wait is for.
func (n *node) pushTo(q *queue, m *Message, coalesce bool) {
	if q.tryPush(m, coalesce) {
		return
	}
	n.flushWakes()
	q.push(n.p.abort, m)
}

// flushWakes wakes the downstream consumers whose wake-up an emit deferred.
func (n *node) flushWakes() {
	if n.deferred.Load() && n.deferred.Swap(false) {
		for _, q := range n.outs {
			q.flushWake()
		}
	}
}

// Emit implements Emitter for the node's component.
func (n *node) Emit(m *Message) { n.emit(m) }

// fail ends the node's reference to m with err: to the dead-letter sink when
// the pipeline has one, else as a nack.
func (n *node) fail(m *Message, err error) {
	n.stats.errors.Add(1)
	n.p.failures.add(n.name, err)
	dl := n.p.deadLetter
	switch {
	case dl == nil:
		n.p.log.Warn().Str("node", n.name).Err(err).Msg("message failed")
		m.release(fmt.Errorf("%s: %w", n.name, err))
		return
	case n == dl:
		// The last resort failed: say so loudly. The source nacks the
		// message; sources bound its redeliveries (max_deliver).
		n.p.log.Error().Str("node", n.name).Err(err).
			Str("reason", m.Meta[MetaDeadLetterError]).Str("failed_node", m.Meta[MetaDeadLetterNode]).
			Str("topic", m.Topic).Str("key", m.Key).Int("payload_bytes", len(m.Payload)).
			Msg("dead letter could not be stored")
		m.release(fmt.Errorf("dead-letter sink %s: %w", n.name, err))
		return
	}
	n.p.log.Debug().Str("node", n.name).Err(err).Msg("message dead-lettered")
	// A copy: m.Meta may be shared with other messages (see Message.Meta).
	m.WithMeta(MetaDeadLetterNode, n.name, MetaDeadLetterError, err.Error())
	// The reference this node holds passes to the dead-letter queue.
	dl.in.push(n.p.abort, m)
}

// Metadata keys set on dead letters.
const (
	MetaDeadLetterNode  = "edgeflow_failed_node"
	MetaDeadLetterError = "edgeflow_error"
)

// process calls the processor, turning a panic into an error so that one bad
// message cannot take the process down.
func (n *node) process(ctx context.Context, m *Message, out Emitter) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic in %s: %v", n, r)
		}
	}()
	return n.proc.Process(ctx, m, out)
}

func (n *node) processBatch(ctx context.Context, b []*Message) (errs []error) {
	defer func() {
		if r := recover(); r != nil {
			err := fmt.Errorf("panic in %s: %v", n, r)
			errs = make([]error, len(b))
			for i := range errs {
				errs[i] = err
			}
		}
	}()
	return n.batch.ProcessBatch(ctx, b, n)
}

func (n *node) writeSink(ctx context.Context, b []*Message) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic in %s: %v", n, r)
		}
	}()
	if len(b) == 1 {
		return n.sink.Write(ctx, b[0])
	}
	return n.sink.(BatchSink).WriteBatch(ctx, b)
}

// sendSink starts a PipelinedSink's write of b; a panic becomes the
// outcome.
func (n *node) sendSink(ctx context.Context, ps PipelinedSink, b []*Message) (wait func() error) {
	defer func() {
		if r := recover(); r != nil {
			err := fmt.Errorf("panic in %s: %v", n, r)
			wait = func() error { return err }
		}
	}()
	return ps.Send(ctx, b)
}

// waitSink waits for a PipelinedSink's outcome; a panic becomes the outcome.
func (n *node) waitSink(wait func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic in %s: %v", n, r)
		}
	}()
	return wait()
}

// sourceOutput is what a source emits into.
type sourceOutput struct{ n *node }

func (o sourceOutput) Emit(m *Message) error {
	n := o.n
	if !m.tracked() {
		m.Track(nil, nil)
	}
	if m.ref == &m.own {
		m.own.stats = &n.stats
	}
	n.stats.received.Add(1)
	select {
	case <-n.p.abort:
		m.release(ErrAborted)
		return ErrAborted
	default:
	}
	n.emit(m)
	m.release(nil) // the source's own reference
	return nil
}

func (o sourceOutput) DeadLetter(m *Message, reason error) {
	n := o.n
	if !m.tracked() {
		m.Track(nil, nil)
	}
	if m.ref == &m.own {
		m.own.stats = &n.stats
	}
	n.stats.received.Add(1)
	n.fail(m, reason)
}
