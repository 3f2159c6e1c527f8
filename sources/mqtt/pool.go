package mqtt

import (
	"errors"

	mqttconn "github.com/edgeflow/edgeflow/connections/mqtt"
	"github.com/edgeflow/edgeflow/pipeline"
)

// received is a delivery, the message made of it and the fields map the
// message was given. All three are reused once the engine has settled the
// message, after the delivery is acknowledged or left for redelivery: a
// settled message is referenced by no node any more (pipeline.Sink), so a
// message costs the source its decoded values and not also a delivery, a
// message and a map (the collector's share of a bridge's CPU;
// BENCHMARKS.md). The payload is never reused: it is the delivery's own
// (see mqttconn.Delivery.Payload), which a dead letter may carry.
type received struct {
	msg    pipeline.Message
	fields map[string]any // ours even if a stage or a dead letter replaced msg.Fields
	d      mqttconn.Delivery
}

// maxKeptFields bounds the fields map kept for reuse: one odd payload with
// hundreds of fields must not leave a map that size on every message.
const maxKeptFields = 64

// receivedPool hands settled messages back to the source goroutine.
type receivedPool struct{ pipeline.Recycler[received] }

// settle is the SettleFunc of every message; it runs on whichever goroutine
// released the message last. A message the pipeline aborted (shutdown), or
// one a sink could not deliver because it was down, is released, not
// counted as a failed delivery.
func (p *receivedPool) settle(token any, err error) {
	r := token.(*received)
	if err != nil && (errors.Is(err, pipeline.ErrAborted) || pipeline.IsUnavailable(err)) { // IsUnavailable allocates
		r.d.Release()
	} else {
		r.d.Settle(err)
	}
	// Let go of the payload (and a dead letter's record of it) now: the
	// free list may sit idle after a burst, up to max_in_flight long.
	r.d = mqttconn.Delivery{}
	r.msg.Payload, r.msg.Fields = nil, nil
	p.Put(r)
}

// get returns an empty received: a settled one, or a new one.
func (p *receivedPool) get() *received {
	r := p.Get()
	if r == nil {
		return &received{fields: make(map[string]any, 4)}
	}
	if len(r.fields) > maxKeptFields {
		r.fields = make(map[string]any, 4)
	}
	r.msg.Reset(r.fields)
	r.msg.Fields = nil // the codec gives it fields, into r.fields when it can
	return r
}
