// Package pipeline is edgeflow's dataflow engine: a directed acyclic graph of
// sources, stages and sinks joined by bounded queues, with end-to-end
// acknowledgement of every source message.
//
// See docs/architecture.md for the design: queues and overflow policies, how
// acknowledgements travel, and the order of a graceful shutdown.
package pipeline

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
)

// Options configure a pipeline. The zero value is usable.
type Options struct {
	// Name labels the pipeline's metrics and logs.
	Name string
	// Buffer is the default capacity of node input queues (default 256).
	Buffer int
	// DrainTimeout bounds the graceful shutdown: once the context given to
	// Run is done, in-flight messages have this long to be delivered before
	// the pipeline aborts and nacks the rest (default 30s).
	DrainTimeout time.Duration
	// Logger receives the engine's logs (default: discard).
	Logger *zerolog.Logger
}

// Pipeline is a graph of nodes. Build it with AddSource, AddStage, AddSink and
// SetDeadLetter, then call Run once.
type Pipeline struct {
	opts       Options
	log        zerolog.Logger
	nodes      map[string]*node
	order      []*node // in the order added
	deadLetter *node

	latency  *prometheus.HistogramVec
	e2e      *prometheus.HistogramVec // ingest to delivery, per sink
	failures deadLetters
	retainMu sync.Mutex
	retained map[string]bool // components not to close (see Retain)
	abort    chan struct{}   // closed when the drain timeout runs out
	running  atomic.Bool
	wired    atomic.Bool // the queues exist: set once wire has run
	ready    atomic.Bool
	finished atomic.Bool
}

// New returns an empty pipeline.
func New(opts Options) *Pipeline {
	if opts.Buffer <= 0 {
		opts.Buffer = 256
	}
	if opts.DrainTimeout <= 0 {
		opts.DrainTimeout = 30 * time.Second
	}
	p := &Pipeline{opts: opts, log: zerolog.Nop(), nodes: map[string]*node{}, abort: make(chan struct{})}
	if opts.Logger != nil {
		p.log = opts.Logger.With().Str("pipeline", opts.Name).Logger()
	}
	p.latency = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:        "edgeflow_node_processing_seconds",
		Help:        "Time a node spends on one message (or one batch).",
		ConstLabels: prometheus.Labels{"pipeline": opts.Name},
		Buckets:     prometheus.ExponentialBuckets(1e-6, 4, 12), // 1µs .. ~4s
	}, []string{"node", "kind"})
	p.e2e = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:        "edgeflow_sink_latency_seconds",
		Help:        "Time from a message's ingest to its delivery by a sink (sampled like the processing time).",
		ConstLabels: prometheus.Labels{"pipeline": opts.Name},
		Buckets:     prometheus.ExponentialBuckets(1e-5, 2, 22), // 10µs .. ~21s
	}, []string{"node"})
	return p
}

// AddSource adds a source node.
func (p *Pipeline) AddSource(name string, s Source, opts NodeOptions) error {
	return p.add(&node{name: name, kind: KindSource, source: s, impl: s, opts: opts})
}

// AddStage adds a stage fed by inputs. proc is a Processor or a
// BatchProcessor.
func (p *Pipeline) AddStage(name string, proc any, inputs []string, opts NodeOptions) error {
	n := &node{name: name, kind: KindStage, inputs: inputs, impl: proc, opts: opts}
	switch c := proc.(type) {
	case BatchProcessor:
		n.batch = c
	case Processor:
		n.proc = c
	default:
		return fmt.Errorf("stage %q: %T is neither a Processor nor a BatchProcessor", name, proc)
	}
	return p.add(n)
}

// AddSink adds a sink fed by inputs.
func (p *Pipeline) AddSink(name string, s Sink, inputs []string, opts NodeOptions) error {
	return p.add(&node{name: name, kind: KindSink, sink: s, impl: s, inputs: inputs, opts: opts})
}

// SetDeadLetter adds the sink that receives failed messages. Each carries
// its payload and metadata as the failing node saw it, plus the node's name
// and the error under MetaDeadLetterNode and MetaDeadLetterError.
func (p *Pipeline) SetDeadLetter(name string, s Sink, opts NodeOptions) error {
	if p.deadLetter != nil {
		return fmt.Errorf("dead-letter sink already set to %q", p.deadLetter.name)
	}
	n := &node{name: name, kind: KindSink, sink: s, impl: s, opts: opts}
	if err := p.add(n); err != nil {
		return err
	}
	p.deadLetter = n
	n.e2e = nil // dead letters are not deliveries
	return nil
}

func (p *Pipeline) add(n *node) error {
	if p.running.Load() {
		return errors.New("pipeline is already running")
	}
	if n.name == "" {
		return fmt.Errorf("%s has no name", n.kind)
	}
	if _, dup := p.nodes[n.name]; dup {
		return fmt.Errorf("duplicate node name %q", n.name)
	}
	n.p = p
	n.latency = p.latency.WithLabelValues(n.name, n.kind.String())
	if n.kind == KindSink && n != p.deadLetter {
		n.e2e = p.e2e.WithLabelValues(n.name)
	}
	p.nodes[n.name] = n
	p.order = append(p.order, n)
	return nil
}

// Ready reports whether every node has started, every source that is a
// Readier is ready, and the pipeline has not finished.
func (p *Pipeline) Ready() bool {
	if !p.ready.Load() || p.finished.Load() {
		return false
	}
	for _, n := range p.nodes {
		if r, ok := n.source.(Readier); ok && !r.Ready() {
			return false
		}
	}
	return true
}

// Stats returns a snapshot of a node's counters; ok is false for an unknown
// name.
func (p *Pipeline) Stats(name string) (s Stats, ok bool) {
	n, ok := p.nodes[name]
	if !ok {
		return Stats{}, false
	}
	s = Stats{
		Received: n.stats.received.Load(), Emitted: n.stats.emitted.Load(),
		Errors: n.stats.errors.Load(), Acked: n.stats.acked.Load(), Nacked: n.stats.nacked.Load(),
	}
	// Queues are made when Run starts; a scrape may come before.
	if p.wired.Load() && n.in != nil {
		s.Dropped = n.in.dropped.Load()
		s.QueueDepth, s.QueueCapacity = n.in.len(), len(n.in.ring)
	}
	return s, true
}

// ErrDrainIncomplete is returned by Run when the drain timeout ran out:
// the messages still in flight were nacked (brokers redeliver them), so the
// stop was not clean.
var ErrDrainIncomplete = errors.New("drain incomplete")

// Run validates and wires the graph, then runs it until every source has
// finished and everything has drained, or until ctx is done. When ctx is
// done, sources stop, in-flight messages drain for up to the drain timeout,
// sinks flush, and Run returns nil, or an error wrapping
// ErrDrainIncomplete if the timeout cut the drain short. It returns the
// errors of sources that failed, or the graph's problems before anything
// starts.
func (p *Pipeline) Run(ctx context.Context) error {
	if !p.running.CompareAndSwap(false, true) {
		return errors.New("pipeline can only run once")
	}
	defer p.finished.Store(true)
	if err := p.Validate(); err != nil {
		return err
	}
	p.wire()
	p.wired.Store(true)

	var (
		wg      sync.WaitGroup
		errMu   sync.Mutex
		errs    []error
		workCtx = context.WithoutCancel(ctx) // cancelled only by abort
	)
	workCtx, cancelWork := context.WithCancel(workCtx)
	defer cancelWork()
	srcCtx, stopSources := context.WithCancel(ctx)
	defer stopSources()

	// Consumers first, so the first message finds someone to take it.
	for _, n := range p.order {
		if n.kind == KindSource {
			continue
		}
		wg.Go(func() {
			if n.kind == KindStage {
				n.runStage(workCtx)
			} else {
				n.runSink(workCtx)
			}
			p.finish(workCtx, n)
		})
	}
	for _, n := range p.order {
		if n.kind != KindSource {
			continue
		}
		wg.Go(func() {
			if err := n.runSource(srcCtx); err != nil {
				p.log.Error().Err(err).Str("node", n.name).Msg("source failed; stopping the pipeline")
				errMu.Lock()
				errs = append(errs, fmt.Errorf("source %q: %w", n.name, err))
				errMu.Unlock()
				stopSources()
			}
			p.finish(workCtx, n)
		})
	}
	p.ready.Store(true)
	p.log.Info().Int("nodes", len(p.order)).Msg("pipeline running")

	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-srcCtx.Done():
		p.log.Info().Dur("timeout", p.opts.DrainTimeout).Msg("stopping: draining in-flight messages")
		timer := time.NewTimer(p.opts.DrainTimeout)
		defer timer.Stop()
		select {
		case <-done:
		case <-timer.C:
			p.log.Warn().Msg("drain timeout: aborting, in-flight messages are nacked")
			close(p.abort)
			cancelWork()
			<-done
			errs = append(errs, fmt.Errorf("%w after %s: messages still in flight were nacked", ErrDrainIncomplete, p.opts.DrainTimeout))
		}
	}
	p.log.Info().Msg("pipeline stopped")
	return errors.Join(errs...)
}

// finish closes a node's side of its output edges and lets its component go.
func (p *Pipeline) finish(ctx context.Context, n *node) {
	for _, q := range n.outs {
		q.producerDone()
	}
	if p.deadLetter != nil && n != p.deadLetter {
		p.deadLetter.in.producerDone()
	}
	if c, ok := n.impl.(Closer); ok && !p.isRetained(n.name) {
		if err := c.Close(ctx); err != nil {
			p.log.Error().Err(err).Str("node", n.name).Msg("close failed")
		}
	}
}

// wire creates the queues and counts each queue's producers.
func (p *Pipeline) wire() {
	for _, n := range p.order {
		if n.kind == KindSource {
			continue
		}
		size := n.opts.Buffer
		if size <= 0 {
			size = p.opts.Buffer
		}
		n.in = newQueue(size, n.opts.Overflow)
	}
	for _, n := range p.order {
		for _, in := range n.inputs {
			up := p.nodes[in]
			up.outs = append(up.outs, n.in)
			n.in.producers.Add(1)
		}
	}
	if dl := p.deadLetter; dl != nil {
		// Every other node can dead-letter: sources what does not decode,
		// stages what fails, sinks what can never be delivered.
		for _, n := range p.order {
			if n != dl {
				dl.in.producers.Add(1)
			}
		}
		if dl.in.producers.Load() == 0 {
			dl.in.close()
		}
	}
}
