package pipeline

// reuse is what a message that the component which made it uses again (see
// Message.Reset) carries from one use to the next: the slices SetSlice gave
// its fields in this use, and those left from the last one.
type reuse struct {
	made  []madeSlice // this use's
	spare []madeSlice // the last use's, not taken again yet
}

// madeSlice is a slice SetSlice made, boxed once, as it went into Fields:
// storing the same box again costs no allocation.
type madeSlice struct {
	key string
	box any
}

// Reset readies m, which has settled, for another use by the component that
// made it and tracks it (the window stage's windows, the generate source's
// readings): m is emptied, fields (cleared) becomes its Fields, and the
// slices SetSlice made for m's fields are kept for SetSlice to hand out
// again. Only a message's own component may Reset it, and only once the
// engine has settled it: no node references it then (see Sink).
func (m *Message) Reset(fields map[string]any) {
	r := m.reuse
	if r == nil {
		r = &reuse{}
	} else {
		// Slices of the use before last that nobody took back are dropped.
		clear(r.spare)
		r.spare, r.made = r.made, r.spare[:0]
		poison(r.spare)
	}
	clear(fields)
	*m = Message{Fields: fields, reuse: r}
}

// SetSlice sets field key of m to a slice of n elements and returns it for
// the caller to fill: its contents are undefined.
//
// On a message that its component reuses (see Reset), the slice is one
// that SetSlice made for one of m's fields in m's last use, when one of
// that type and length is left, so that a stage that produces an array
// per message (a window's values, a model's output) costs no allocation
// once the pipeline runs steadily. That is why a field's value belongs to
// its message: a component that keeps values past the message's
// settlement (a training buffer, a cache) must copy them. On any other
// message SetSlice simply makes a new slice.
func SetSlice[T any](m *Message, key string, n int) []T {
	if m.Fields == nil {
		m.Fields = make(map[string]any, 4)
	}
	r := m.reuse
	if r == nil {
		s := make([]T, n)
		m.Fields[key] = s
		return s
	}
	if i := r.spareFor(key, func(box any) bool { s, ok := box.([]T); return ok && len(s) == n }); i >= 0 {
		old := r.spare[i]
		last := len(r.spare) - 1
		r.spare[i], r.spare[last] = r.spare[last], madeSlice{}
		r.spare = r.spare[:last]
		r.made = append(r.made, old)
		m.Fields[key] = old.box
		return old.box.([]T)
	}
	s := make([]T, n)
	box := any(s)
	r.made = append(r.made, madeSlice{key: key, box: box})
	m.Fields[key] = box
	return s
}

// spareFor returns the index of a spare slice that fits, preferring the one
// that held the same field, or -1.
func (r *reuse) spareFor(key string, fits func(any) bool) int {
	found := -1
	for i, s := range r.spare {
		if !fits(s.box) {
			continue
		}
		if s.key == key {
			return i
		}
		if found < 0 {
			found = i
		}
	}
	return found
}
