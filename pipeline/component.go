package pipeline

import "context"

// Source produces messages. Run emits until ctx is cancelled or the source is
// exhausted, then returns; a nil error means a clean end. A source that loses
// its connection reconnects by itself and only returns an error it cannot
// recover from.
//
// A source that needs acknowledgements calls Message.Track before emitting;
// its SettleFunc then learns each message's fate.
type Source interface {
	Run(ctx context.Context, out SourceOutput) error
}

// A Readier is a source that becomes ready some time after Run starts (a
// broker subscription acknowledged, for example). Pipeline.Ready reports
// ready only once every such source is.
type Readier interface {
	Ready() bool
}

// SourceOutput is what a running source emits into.
type SourceOutput interface {
	// Emit hands m to the pipeline, blocking while an edge applies
	// backpressure. A source that is asked to stop still has its last
	// message taken: downstream drains. Emit fails only when the pipeline
	// aborts (the drain timeout ran out); m is then settled with ErrAborted.
	Emit(m *Message) error
	// DeadLetter sends m, which the source could not turn into a message
	// (say, a payload that does not decode), to the dead-letter sink.
	DeadLetter(m *Message, reason error)
}

// Processor is a stage that handles one message at a time. It may emit m
// (changed in place), messages derived from m (Message.Derive, Merge), or
// nothing (m is filtered out, and acknowledged). Returning an error sends m
// to the dead-letter sink with that error.
//
// m is the processor's only for the call: a stage that keeps it longer (a
// window) Retains it and keeps it no longer than until its Release, since a
// settled message may be reused by its source.
//
// A processor used with workers > 1 must be safe for concurrent use.
type Processor interface {
	Process(ctx context.Context, m *Message, out Emitter) error
}

// BatchProcessor is a stage that handles several messages in one call, such
// as a model run over a micro-batch. The engine gathers batches as the node's
// batch options say. ProcessBatch returns nil when every message succeeded,
// or a slice as long as batch whose non-nil entries fail those messages.
type BatchProcessor interface {
	ProcessBatch(ctx context.Context, batch []*Message, out Emitter) []error
}

// Emitter sends messages to the downstream edges of a node. Emit blocks while
// a downstream edge applies backpressure. It is safe for concurrent use.
type Emitter interface {
	Emit(m *Message)
}

// Sink delivers messages out of the pipeline. Write returns nil only once the
// message is delivered (written and flushed, or confirmed by the broker): its
// source is acknowledged on that word. An error nacks the source.
//
// A sink must not keep a message (its Fields and Meta maps, or the arrays
// its fields hold) once its outcome is reported: a source may reuse a
// message, and SetSlice its arrays, as soon as it is settled (generate,
// mqtt and the window stage do). A sink that keeps messages keeps copies
// of what it needs.
type Sink interface {
	Write(ctx context.Context, m *Message) error
}

// BatchSink is a sink that can deliver several messages at once, for example
// with one flush. The engine hands it whatever is queued, up to the node's
// batch size. An error fails every message of the batch.
type BatchSink interface {
	Sink
	WriteBatch(ctx context.Context, batch []*Message) error
}

// PipelinedSink is a BatchSink whose write has two halves, so that the
// engine need not wait for one batch's confirmation before sending the next:
// Send starts delivering batch (the engine calls it from one goroutine, in
// input order) and returns wait, which blocks until the outcome is known and
// reports it as WriteBatch would. Up to sinkWindow batches are sent and not
// yet waited for. A broker sink uses it to keep publishes in flight instead
// of paying a round trip per batch.
type PipelinedSink interface {
	BatchSink
	Send(ctx context.Context, batch []*Message) (wait func() error)
}

// Reconnecter is implemented by sinks that write through a connection.
// Reconnected returns a channel closed when the connection is next
// (re)established. A sink retrying a failed write stops waiting then and
// starts its backoff over, so that delivery resumes as soon as the broker
// is back rather than after a pause grown long during the outage.
type Reconnecter interface {
	Reconnected() <-chan struct{}
}

// Flusher is implemented by stages that hold messages (a window). Flush is
// called once, after the stage's input has ended, while its downstream edges
// are still open: the stage emits what it can and Releases what it still
// holds.
type Flusher interface {
	Flush(ctx context.Context, out Emitter) error
}

// ThreadBound is implemented by stages that call native code which runs
// best staying on one OS thread, and so, as the kernel keeps a busy thread
// where it ran, on one core's caches: an ONNX Runtime session, whose
// weights (a megabyte for a small sensor model) then stay in that core's
// L2 from one run to the next instead of following the goroutine from
// core to core. When ThreadBound reports true, the engine locks each of
// the stage's workers to its OS thread (runtime.LockOSThread) while it has
// input queued, and lets go before it waits for more: waking a locked
// worker would mean waking its one thread, which costs more than a
// stage that often runs dry gains.
type ThreadBound interface {
	ThreadBound() bool
}

// Closer is implemented by components that hold resources: connections,
// files, model sessions. Close is called once, when the node has finished.
type Closer interface {
	Close(ctx context.Context) error
}
