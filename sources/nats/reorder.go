package nats

import (
	"cmp"
	"slices"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// reorderWait is how long a pinned source waits for more redeliveries
// before it emits those it holds.
const reorderWait = 100 * time.Millisecond

// reorder puts a pinned durable's redeliveries back in stream order. When
// an instance dies, the next one pinned gets its unacknowledged messages
// first, in one burst, but in the order their ack deadlines fell, which is
// not always stream order (messages still in the dead client's pull buffer
// had no progress ack). The source holds redeliveries until a first
// delivery arrives (it is newer than all of them), the burst pauses for
// reorderWait, or limit are held, and emits them sorted.
type reorder struct {
	held  []heldMsg
	limit int
}

type heldMsg struct {
	msg jetstream.Msg
	seq uint64
}

// hold keeps msg if it is a redelivery, and reports whether it did.
func (r *reorder) hold(msg jetstream.Msg) bool {
	md, err := msg.Metadata()
	if err != nil || md.NumDelivered < 2 || len(r.held) >= r.limit {
		return false
	}
	r.held = append(r.held, heldMsg{msg, md.Sequence.Stream})
	return true
}

// flush returns what is held, in stream order, and empties it.
func (r *reorder) flush() []jetstream.Msg {
	slices.SortFunc(r.held, func(a, b heldMsg) int { return cmp.Compare(a.seq, b.seq) })
	out := make([]jetstream.Msg, len(r.held))
	for i, h := range r.held {
		out[i] = h.msg
	}
	r.held = r.held[:0]
	return out
}
