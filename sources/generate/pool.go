package generate

import (
	"sync"

	"github.com/edgeflow/edgeflow/pipeline"
)

// reading is a generated message together with the fields map it was given.
// Both are reused once the engine has settled the message: a settled
// message is referenced by no node any more (pipeline.Sink), so the
// generator allocates only the boxed reading per message, not the message
// and its map.
type reading struct {
	msg    pipeline.Message
	fields map[string]any // ours even if a stage replaced msg.Fields
}

// readingPool hands settled readings back to the source goroutine. settle
// runs on whichever goroutine released the message last; get runs on the
// source's. The source takes the whole free list at once, so the lock is
// taken once per settle and once per refill.
type readingPool struct {
	mu    sync.Mutex
	free  []*reading // settled, filled by settle
	ready []*reading // taken from free, used by get without the lock
}

func (p *readingPool) settle(token any, _ error) {
	r := token.(*reading)
	p.mu.Lock()
	p.free = append(p.free, r)
	p.mu.Unlock()
}

// get returns an empty reading: a recycled one, or a new one.
func (p *readingPool) get() *reading {
	if len(p.ready) == 0 {
		p.mu.Lock()
		p.ready, p.free = p.free, p.ready[:0]
		p.mu.Unlock()
	}
	n := len(p.ready)
	if n == 0 {
		return &reading{fields: make(map[string]any, 3)}
	}
	r := p.ready[n-1]
	p.ready[n-1] = nil
	p.ready = p.ready[:n-1]
	r.msg = pipeline.Message{}
	clear(r.fields)
	return r
}
