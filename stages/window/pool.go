package window

import (
	"github.com/edgeflow/edgeflow/pipeline"
)

// emitted is a window's message, the fields map it was given and the
// readings whose acknowledgements it carries. All three are reused once
// the engine has settled the message: a settled message is referenced by
// no node any more (pipeline.Sink), so a window costs its values and not
// also a message and a map (the allocations the collector recycles are
// what costs a pipeline around a small model most; BENCHMARKS.md).
type emitted struct {
	msg    pipeline.Message
	fields map[string]any // ours even if a stage replaced msg.Fields
	parts  []*pipeline.Message
}

// windowPool hands settled windows back to the stage; get runs under
// the window's lock.
type windowPool struct{ pipeline.Recycler[emitted] }

// settle is the windows' SettleFunc: it releases the readings the window
// carried with its outcome (a failed window fails them, so their sources
// are redelivered) and keeps the window for reuse. It runs on whichever
// goroutine released the window last.
func (p *windowPool) settle(token any, err error) {
	e := token.(*emitted)
	for _, m := range e.parts {
		m.Release(err)
	}
	clear(e.parts)
	e.parts = e.parts[:0]
	p.Put(e)
}

// get returns an empty window: a settled one, or a new one.
func (p *windowPool) get() *emitted {
	e := p.Get()
	if e == nil {
		e = &emitted{fields: make(map[string]any, 5)}
	}
	e.msg.Reset(e.fields)
	return e
}
