package generate

import (
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

// readingPool hands settled readings back to the source goroutine.
type readingPool struct{ pipeline.Recycler[reading] }

// settle is the readings' SettleFunc: it runs on whichever goroutine
// released the message last.
func (p *readingPool) settle(token any, _ error) { p.Put(token.(*reading)) }

// get returns an empty reading: a recycled one, or a new one.
func (p *readingPool) get() *reading {
	r := p.Get()
	if r == nil {
		r = &reading{fields: make(map[string]any, 3)}
	}
	r.msg.Reset(r.fields)
	return r
}
