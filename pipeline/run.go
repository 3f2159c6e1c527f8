package pipeline

import (
	"context"
	"sync"
	"time"
)

// The run loops of the three kinds of node. Each returns when its input has
// closed (or, for a source, when it stops), after which the caller closes the
// node's outputs.

func (n *node) runSource(ctx context.Context) error {
	err := n.source.Run(ctx, sourceOutput{n})
	if err != nil && ctx.Err() != nil && context.Cause(ctx) == context.Canceled {
		err = nil // stopped on request
	}
	return err
}

func (n *node) runStage(ctx context.Context) {
	workers := max(n.opts.Workers, 1)
	switch {
	case n.batch != nil:
		n.runWorkers(ctx, workers, n.batchLoop)
	case workers > 1 && n.opts.Ordered:
		n.orderedLoop(ctx, workers)
	default:
		n.runWorkers(ctx, workers, n.stageLoop)
	}
	if f, ok := n.impl.(Flusher); ok {
		if err := f.Flush(ctx, n); err != nil {
			n.p.log.Error().Err(err).Str("node", n.name).Msg("flush failed")
		}
	}
}

func (n *node) runWorkers(ctx context.Context, workers int, loop func(context.Context)) {
	if workers == 1 {
		loop(ctx)
		return
	}
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() { loop(ctx) })
	}
	wg.Wait()
}

func (n *node) stageLoop(ctx context.Context) {
	sw := stopwatch{hist: n.latency}
	var flush func()
	if max(n.opts.Workers, 1) == 1 {
		flush = n.flushWakes
	}
	aff := n.affinity()
	defer aff.let()
	wait := aff.beforeWait(flush)
	for {
		m, more, ok := n.in.pop(wait)
		if !ok {
			return
		}
		aff.hold()
		n.stats.received.Add(1)
		n.coalescing(more, &sw)
		if ctx.Err() != nil {
			m.release(ErrAborted)
			continue
		}
		timed := sw.begin()
		err := n.process(ctx, m, n)
		if timed {
			sw.end()
		}
		if err != nil {
			n.fail(m, err)
		} else {
			m.release(nil)
		}
	}
}

// gather fills b with the next batch: it blocks for the first message, then
// takes what is queued, waiting up to delay for more. ok is false once the
// input has closed and nothing was gathered.
func (n *node) gather(b []*Message, size int, delay time.Duration, timer *time.Timer) ([]*Message, bool) {
	b, _, ok := n.in.popBatch(b, size, delay, timer, nil)
	return b, ok
}

// coalescing says whether a stage's next emits may defer downstream
// wake-ups (see queue): only with one worker, whose loop flushes them
// before it waits; only while more input is queued, so the stage comes
// straight back; only while its calls are quick, so a deferral is short.
func (n *node) coalescing(more bool, sw *stopwatch) {
	c := more && sw.quick && max(n.opts.Workers, 1) == 1
	if n.coalesce.Load() != c {
		n.coalesce.Store(c)
	}
}

func (n *node) batchLoop(ctx context.Context) {
	size := max(n.opts.BatchSize, 1)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	b := make([]*Message, 0, size)
	sw := stopwatch{hist: n.latency}
	var flush func()
	if max(n.opts.Workers, 1) == 1 {
		flush = n.flushWakes
	}
	aff := n.affinity()
	defer aff.let()
	wait := aff.beforeWait(flush)
	for {
		var more, ok bool
		if b, more, ok = n.in.popBatch(b[:0], size, n.opts.BatchDelay, timer, wait); !ok {
			return
		}
		aff.hold()
		n.stats.received.Add(uint64(len(b)))
		n.coalescing(more, &sw)
		if ctx.Err() != nil {
			releaseAll(b, ErrAborted)
			continue
		}
		timed := sw.begin()
		errs := n.processBatch(ctx, b)
		if timed {
			sw.end()
		}
		for i, m := range b {
			if errs != nil && i < len(errs) && errs[i] != nil {
				n.fail(m, errs[i])
			} else {
				m.release(nil)
			}
		}
		clear(b)
	}
}

func releaseAll(b []*Message, err error) {
	for _, m := range b {
		m.release(err)
	}
}

// job carries one message through an ordered worker pool.
type job struct {
	m    *Message
	out  []*Message
	err  error
	done chan struct{}
}

// Emit collects a worker's output until the collector forwards it in order.
func (j *job) Emit(m *Message) { j.out = append(j.out, m) }

// orderedLoop runs workers in parallel but emits in input order: a
// dispatcher hands out jobs and queues them, in order, to one collector that
// waits for each in turn.
func (n *node) orderedLoop(ctx context.Context, workers int) {
	pool := sync.Pool{New: func() any { return &job{done: make(chan struct{}, 1)} }}
	jobs := make(chan *job, workers)
	order := make(chan *job, 2*workers)
	var wg sync.WaitGroup
	wg.Go(func() {
		defer close(order)
		defer close(jobs)
		for {
			m, _, ok := n.in.pop(nil)
			if !ok {
				return
			}
			n.stats.received.Add(1)
			j := pool.Get().(*job)
			j.m = m
			order <- j
			jobs <- j
		}
	})
	for range workers {
		wg.Go(func() {
			sw := stopwatch{hist: n.latency}
			aff := n.affinity()
			defer aff.let()
			for j := range jobs {
				aff.hold()
				if ctx.Err() != nil {
					j.err = ErrAborted
				} else {
					timed := sw.begin()
					j.err = n.process(ctx, j.m, j)
					if timed {
						sw.end()
					}
				}
				j.done <- struct{}{}
				if aff.locked && len(jobs) == 0 && n.in.len() == 0 {
					aff.let() // the input ran dry: about to wait
				}
			}
		})
	}
	for j := range order {
		<-j.done
		for _, m := range j.out {
			n.emit(m)
		}
		switch {
		case j.err == ErrAborted:
			j.m.release(ErrAborted)
		case j.err != nil:
			n.fail(j.m, j.err)
		default:
			j.m.release(nil)
		}
		clear(j.out)
		j.m, j.out, j.err = nil, j.out[:0], nil
		pool.Put(j)
	}
	wg.Wait()
}

func (n *node) runSink(ctx context.Context) {
	n.runWorkers(ctx, max(n.opts.Workers, 1), n.sinkLoop)
}

func (n *node) sinkLoop(ctx context.Context) {
	size := 1
	if _, ok := n.sink.(BatchSink); ok {
		size = n.opts.BatchSize
		if size <= 0 {
			size = 64
		}
	}
	if ps, ok := n.sink.(PipelinedSink); ok {
		n.pipelinedSinkLoop(ctx, ps, size)
		return
	}
	b := make([]*Message, 0, size)
	w := sinkWriter{n: n, errs: make([]error, 0, size), retry: make([]*Message, 0, size)}
	sw := stopwatch{hist: n.latency}
	var ingest []time.Time // of a timed batch, for the end-to-end latency
	for {
		var ok bool
		if b, ok = n.gather(b[:0], size, 0, nil); !ok {
			return
		}
		n.stats.received.Add(uint64(len(b)))
		if ctx.Err() != nil {
			releaseAll(b, ErrAborted)
			continue
		}
		timed := sw.begin()
		if timed && n.e2e != nil {
			// Read before delivery: afterwards the messages are settled.
			ingest = ingest[:0]
			for _, m := range b {
				ingest = append(ingest, m.IngestTime)
			}
		}
		w.deliver(ctx, b)
		if timed {
			sw.end()
			n.observeE2E(ingest)
		}
		clear(b)
	}
}

// sinkWindow is how many batches a PipelinedSink may have sent and not yet
// confirmed.
const sinkWindow = 32

// sentBatch is a batch a PipelinedSink has sent, awaiting its outcome.
type sentBatch struct {
	b    []*Message
	up   <-chan struct{} // the sink's Reconnected before the send
	wait func() error
}

// pipelinedSinkLoop sends batches in input order without waiting for the
// previous ones' outcomes; a second goroutine waits for them, in order, and
// settles (or retries) their messages.
func (n *node) pipelinedSinkLoop(ctx context.Context, ps PipelinedSink, size int) {
	// At most sinkWindow batches sent and unconfirmed: those queued in
	// pending, the one being waited for and one waiting to be queued.
	pending := make(chan sentBatch, sinkWindow-2)
	free := make(chan []*Message, sinkWindow+1)
	for range sinkWindow + 1 {
		free <- make([]*Message, 0, size)
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		w := sinkWriter{n: n, errs: make([]error, 0, size), retry: make([]*Message, 0, size)}
		sw := stopwatch{hist: n.latency}
		for s := range pending {
			timed := sw.begin()
			w.finish(ctx, s.b, s.up, n.waitSink(s.wait))
			if timed {
				sw.end()
			}
			clear(s.b)
			free <- s.b[:0]
		}
	})
	defer wg.Wait()
	defer close(pending)
	for {
		b, ok := n.gather(<-free, size, 0, nil)
		if !ok {
			return
		}
		n.stats.received.Add(uint64(len(b)))
		if ctx.Err() != nil {
			releaseAll(b, ErrAborted)
			clear(b)
			free <- b[:0]
			continue
		}
		n.asRecords(b)
		up := n.reconnected()
		pending <- sentBatch{b: b, up: up, wait: n.sendSink(ctx, ps, b)}
	}
}

// sinkWriter delivers batches for one sink goroutine, retrying what failed
// for a reason that may pass and dead-lettering what cannot succeed.
type sinkWriter struct {
	n     *node
	errs  []error
	retry []*Message
}

// deliver writes b and settles every message of it.
func (w *sinkWriter) deliver(ctx context.Context, b []*Message) {
	w.n.asRecords(b)
	up := w.n.reconnected()
	w.finish(ctx, b, up, w.n.writeSink(ctx, b))
}

// reconnected is the sink's Reconnected channel (nil for a sink without a
// connection). Writers take it before a write, so that a reconnect while
// the write fails, or just after, still ends the wait for the retry.
func (n *node) reconnected() <-chan struct{} {
	if r, ok := n.sink.(Reconnecter); ok {
		return r.Reconnected()
	}
	return nil
}

// asRecords turns the messages of a batch for the dead-letter sink into
// dead-letter records, before their first write.
func (n *node) asRecords(b []*Message) {
	if n != n.p.deadLetter {
		return
	}
	for _, m := range b {
		deadLetterRecord(m)
	}
}

// finish settles every message of b, which was written once with outcome
// err, writing again what failed for a reason that may pass. up is the
// sink's Reconnected channel taken before that write.
func (w *sinkWriter) finish(ctx context.Context, b []*Message, up <-chan struct{}, err error) {
	n := w.n
	first := n.opts.RetryBackoff
	if first <= 0 {
		first = 100 * time.Millisecond
	}
	backoff := first
	isDL := n == n.p.deadLetter
	for attempt := 0; len(b) > 0; attempt++ {
		if attempt > 0 {
			up = n.reconnected()
			err = n.writeSink(ctx, b)
		}
		w.errs = outcomes(b, err, w.errs)
		lastTry := n.opts.Retries >= 0 && attempt >= n.opts.Retries
		w.retry = w.retry[:0]
		var lastErr error
		for i, m := range b {
			switch err := w.errs[i]; {
			case err == nil:
				m.release(nil)
			case isDL && IsPermanent(err) && m.Fields[DeadLetterFields] != nil:
				// The record's copy of the original fields would not
				// encode: store the rest of it.
				unencodable(m, err)
				w.retry = append(w.retry, m)
				lastErr = err
			case IsPermanent(err):
				n.fail(m, err)
			case lastTry || ctx.Err() != nil:
				n.stats.errors.Add(1)
				n.p.failures.add(n.name, err)
				ev := n.p.log.Warn()
				if isDL {
					ev = n.p.log.Error() // the last resort is down
				}
				ev.Str("node", n.name).Err(err).Msg("delivery failed")
				m.release(err)
			default:
				w.retry = append(w.retry, m)
				lastErr = err
			}
		}
		if len(w.retry) == 0 {
			break
		}
		n.p.log.Warn().Str("node", n.name).Err(lastErr).Int("messages", len(w.retry)).
			Int("attempt", attempt+1).Dur("backoff", backoff).Msg("delivery failed, retrying")
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
		case <-t.C:
			backoff = min(2*backoff, 30*time.Second)
		case <-up:
			// The connection is back: whatever failed for its absence may
			// pass now, and the next outage starts from a short pause.
			n.p.log.Info().Str("node", n.name).Msg("connection restored; retrying at once")
			backoff = first
		}
		t.Stop()
		// Retry the failed messages in b's own storage.
		b = append(b[:0], w.retry...)
	}
	clear(w.retry)
}

// observeE2E records the end-to-end latency of a timed sink batch.
func (n *node) observeE2E(ingest []time.Time) {
	if n.e2e == nil || len(ingest) == 0 {
		return
	}
	now := time.Now()
	for _, t := range ingest {
		if !t.IsZero() {
			n.e2e.Observe(now.Sub(t).Seconds())
		}
	}
}
