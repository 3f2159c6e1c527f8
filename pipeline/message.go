package pipeline

import (
	"maps"
	"time"
)

// Message is the unit that flows along the edges of a pipeline.
//
// A message is owned by one node at a time: a stage may change it in place and
// emit it again. When a message fans out to several nodes, each extra branch
// receives a shallow copy (see Clone), so in-place changes on one branch are
// not seen by another.
type Message struct {
	// Key partitions a stream: the sensor id, the camera id.
	Key string
	// Topic is the topic or subject the message arrived on, if any.
	Topic string
	// Payload holds the bytes as received. Stages that decode it keep it, so
	// that a dead letter can carry the original.
	Payload []byte
	// Fields is the decoded content; it is what expressions see. Its
	// values belong to the message: a component that keeps one past the
	// message's settlement copies it, as the message may be used again
	// (see SetSlice).
	Fields map[string]any
	// Meta carries string metadata, such as MQTT user properties or NATS
	// headers. It is read-only once the message is emitted: a source may
	// hand the same map to many messages (the mqtt source has one per
	// combination of QoS and flags), which spares an allocation per
	// message. A stage that changes metadata gives the message a new map
	// (see WithMeta) instead of writing to the one it has.
	Meta map[string]string
	// SourceTime is when the reading was taken, as the producer says.
	SourceTime time.Time
	// IngestTime is when edgeflow received the message.
	IngestTime time.Time

	// own is the tracker of a message created by a source; ref points to it
	// (or to an ancestor's tracker), refs lists the trackers of a message
	// merged from several (a window). At most one of ref and refs is set.
	own  tracker
	ref  *tracker
	refs []*tracker
	// reuse keeps the slices SetSlice made, on a message its component
	// uses again (Reset); Clone and Derive do not copy it.
	reuse *reuse
}

// NewMessage returns a message with the given payload, stamped with the
// current time as its ingest time.
func NewMessage(payload []byte) *Message {
	return &Message{Payload: payload, IngestTime: time.Now()}
}

// Track makes m a source message: settle is called exactly once, with nil
// when every message derived from m has been delivered (or deliberately
// dropped, or dead-lettered), or with the first error otherwise. token is
// handed back to settle so that a source needs no closure per message.
// A source must call Track before it emits m, and only once.
func (m *Message) Track(settle SettleFunc, token any) {
	m.own = tracker{settle: settle, token: token}
	m.own.pending.Store(1)
	m.ref, m.refs = &m.own, nil
}

// Clone returns a shallow copy of m that shares its acknowledgement: the
// payload bytes and the (read-only) Meta map are shared, the Fields map is
// copied one level.
func (m *Message) Clone() *Message {
	c := &Message{
		Key: m.Key, Topic: m.Topic, Payload: m.Payload,
		SourceTime: m.SourceTime, IngestTime: m.IngestTime,
		Meta: m.Meta, ref: m.ref, refs: m.refs,
	}
	if m.Fields != nil {
		c.Fields = maps.Clone(m.Fields)
	}
	return c
}

// WithMeta gives m a new Meta map: a copy of its metadata with the given
// pairs set (kv holds keys and values alternately; an unpaired last key is
// not set). The old map is left alone, since other messages
// may share it.
func (m *Message) WithMeta(kv ...string) {
	meta := make(map[string]string, len(m.Meta)+len(kv)/2)
	maps.Copy(meta, m.Meta)
	for i := 0; i+1 < len(kv); i += 2 {
		meta[kv[i]] = kv[i+1]
	}
	m.Meta = meta
}

// Derive returns a new, empty message that carries m's acknowledgement and
// its key, topic and times. Use it when a stage produces a new message from
// an old one.
func (m *Message) Derive() *Message {
	return &Message{
		Key: m.Key, Topic: m.Topic,
		SourceTime: m.SourceTime, IngestTime: m.IngestTime,
		ref: m.ref, refs: m.refs,
	}
}

// Merge returns a new message that carries the acknowledgements of all the
// given messages: their sources are settled only when it is (a stage that
// reuses its messages tracks them itself instead, as the window stage does).
// The caller must hold a reference to every part (see Retain) until the merged
// message has been emitted.
func Merge(parts ...*Message) *Message {
	n := 0
	var only *tracker // the one tracker, when there is exactly one
	for _, p := range parts {
		if p.ref != nil {
			n++
			only = p.ref
		}
		n += len(p.refs)
	}
	merged := &Message{}
	switch {
	case n == 1 && only != nil:
		// A sliding window's usual case: one new reading per window.
		// Sharing its tracker spares the list.
		merged.ref = only
	case n > 0:
		merged.refs = make([]*tracker, 0, n)
		for _, p := range parts {
			if p.ref != nil {
				merged.refs = append(merged.refs, p.ref)
			}
			merged.refs = append(merged.refs, p.refs...)
		}
	}
	if len(parts) > 0 {
		last := parts[len(parts)-1]
		merged.Key, merged.Topic = last.Key, last.Topic
		merged.SourceTime, merged.IngestTime = last.SourceTime, last.IngestTime
	}
	return merged
}

// Retain adds a reference to the sources of m. A stage that keeps a message
// beyond the call that handed it over (a window buffer) retains it, and
// Releases it when it lets go.
func (m *Message) Retain() { m.add(1) }

// Release drops a reference taken with Retain. A nil err counts as delivered;
// a non-nil err fails the sources of m (they are nacked).
func (m *Message) Release(err error) { m.release(err) }

func (m *Message) add(n int32) {
	if m.ref != nil {
		m.ref.pending.Add(n)
		return
	}
	for _, t := range m.refs {
		t.pending.Add(n)
	}
}

func (m *Message) release(err error) {
	if m.ref != nil {
		m.ref.release(err)
		return
	}
	for _, t := range m.refs {
		t.release(err)
	}
}

// tracked reports whether m carries any acknowledgement.
func (m *Message) tracked() bool { return m.ref != nil || len(m.refs) > 0 }
