package window

import (
	"sync"

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

// windowPool hands settled windows back to the stage. settle runs on
// whichever goroutine released the window last; get runs under the
// window's lock. get takes the whole free list at once, so the pool's lock
// is taken once per settle and once per refill.
type windowPool struct {
	mu    sync.Mutex
	free  []*emitted // settled, filled by settle
	ready []*emitted // taken from free, used by get
}

// settle releases the readings the window carried with its outcome (a
// failed window fails them, so their sources are redelivered) and keeps
// the window for reuse.
func (p *windowPool) settle(token any, err error) {
	e := token.(*emitted)
	for _, m := range e.parts {
		m.Release(err)
	}
	clear(e.parts)
	e.parts = e.parts[:0]
	p.mu.Lock()
	p.free = append(p.free, e)
	p.mu.Unlock()
}

// get returns an empty window: a settled one, or a new one.
func (p *windowPool) get() *emitted {
	if len(p.ready) == 0 {
		p.mu.Lock()
		p.ready, p.free = p.free, p.ready[:0]
		p.mu.Unlock()
	}
	n := len(p.ready)
	if n == 0 {
		return &emitted{fields: make(map[string]any, 5)}
	}
	e := p.ready[n-1]
	p.ready[n-1] = nil
	p.ready = p.ready[:n-1]
	e.msg = pipeline.Message{}
	clear(e.fields)
	return e
}
