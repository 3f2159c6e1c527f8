package pipeline

import "sync"

// Recycler keeps values a component made for messages it tracked (with
// Track) until it makes the next ones: a settled message is referenced by
// no node any more (see Sink), so its tracker's settle function may Put
// it back, on whatever goroutine released it last, and the component Gets
// it on its own. Get takes the whole list of returned values at once, so
// the lock is taken once per Put and once per refill. The zero value is
// ready to use.
type Recycler[T any] struct {
	mu    sync.Mutex
	free  []*T // returned by Put
	ready []*T // taken from free, handed out by Get without the lock
}

// Put returns v for reuse. The caller must not use v after.
func (r *Recycler[T]) Put(v *T) {
	r.mu.Lock()
	r.free = append(r.free, v)
	r.mu.Unlock()
}

// Get returns a value Put earlier, as it was put, or nil if there is none.
// It is for one goroutine at a time (the component's own).
func (r *Recycler[T]) Get() *T {
	if len(r.ready) == 0 {
		r.mu.Lock()
		r.ready, r.free = r.free, r.ready[:0]
		r.mu.Unlock()
	}
	n := len(r.ready)
	if n == 0 {
		return nil
	}
	v := r.ready[n-1]
	r.ready[n-1] = nil
	r.ready = r.ready[:n-1]
	return v
}
