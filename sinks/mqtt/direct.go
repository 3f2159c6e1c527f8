package mqtt

import (
	"fmt"

	"github.com/edgeflow/edgeflow/codec"
	mqttconn "github.com/edgeflow/edgeflow/connections/mqtt"
	"github.com/edgeflow/edgeflow/pipeline"
)

// direct is sendDirect's reusable memory.
type direct struct {
	packets []byte // the batch's PUBLISH packets
	topic   []byte // one message's topic
	payload []byte // one message's encoded payload
}

// maxKept bounds the buffers a sink keeps for its next batch.
const maxKept = 1 << 20

// noWait is the outcome of a batch that was written whole.
func noWait() error { return nil }

// sendDirect publishes a QoS 0 batch as one write of its PUBLISH packets
// (mqttconn.WritePublishes). QoS 0 has no confirmation to wait for: a
// message is delivered once it is on the connection, as paho's QoS 0 token
// said, and that is known before Send returns. Only messages that cannot be
// made into a packet fail alone (permanently); a write that fails fails the
// rest of the batch, as unavailable while the publisher is down.
func (s *Sink) sendDirect(batch []*pipeline.Message) (wait func() error) {
	d, _ := s.bufs.Get().(*direct)
	if d == nil {
		d = &direct{}
	}
	defer func() {
		if cap(d.packets) > maxKept || cap(d.payload) > maxKept {
			*d = direct{} // do not hold a rare large batch
		}
		s.bufs.Put(d)
	}()
	d.packets = d.packets[:0]
	var errs []error // made at the first failure
	fail := func(i int, err error) {
		if errs == nil {
			errs = make([]error, len(batch))
		}
		errs[i] = err
	}
	n := 0
	for i, m := range batch {
		topic, err := s.renderTo(d, m)
		if err != nil {
			fail(i, pipeline.Permanent(err))
			continue
		}
		payload, err := s.encode(d, m)
		if err != nil {
			fail(i, pipeline.Permanent(fmt.Errorf("encode: %w", err)))
			continue
		}
		if len(payload) > s.maxSize {
			fail(i, pipeline.Permanent(fmt.Errorf("payload of %d bytes exceeds max_payload %d", len(payload), s.maxSize)))
			continue
		}
		if d.packets, err = mqttconn.AppendPublish(d.packets, topic, s.retain, payload); err != nil {
			fail(i, pipeline.Permanent(err))
			continue
		}
		n++
	}
	var werr error
	if n > 0 {
		werr = s.conn.WritePublishes(d.packets, n)
	}
	if werr == nil && errs == nil {
		return noWait
	}
	if werr != nil {
		if !s.conn.PublisherConnected() {
			werr = pipeline.Unavailable(werr) // the broker is away: not the messages' fault
		}
		if errs == nil {
			errs = make([]error, len(batch))
		}
		for i, err := range errs {
			if err == nil {
				errs[i] = werr
			}
		}
	}
	return func() error { return &pipeline.BatchError{Errs: errs} }
}

// renderTo renders m's topic into d's scratch buffer.
func (s *Sink) renderTo(d *direct, m *pipeline.Message) ([]byte, error) {
	var err error
	if d.topic, err = s.topic.AppendRender(d.topic[:0], m, nil); err != nil {
		return nil, fmt.Errorf("topic: %w", err)
	}
	if !s.topic.Static() {
		if err := checkTopic(d.topic); err != nil {
			return nil, err
		}
	}
	return d.topic, nil
}

// encode renders m's payload into d's scratch buffer when the codec can
// append, so that a message costs no allocation of its own.
func (s *Sink) encode(d *direct, m *pipeline.Message) ([]byte, error) {
	if ae, ok := s.enc.(codec.AppendEncoder); ok {
		var err error
		d.payload, err = ae.AppendEncode(d.payload[:0], m)
		return d.payload, err
	}
	return s.enc.Encode(m)
}
