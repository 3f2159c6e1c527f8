package nats

import "sync"

// signal is a broadcast that can fire many times: wait returns a channel
// closed by the next fire.
type signal struct {
	mu sync.Mutex
	ch chan struct{}
}

func (s *signal) wait() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ch == nil {
		s.ch = make(chan struct{})
	}
	return s.ch
}

func (s *signal) fire() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ch != nil {
		close(s.ch)
		s.ch = nil
	}
}

// Reconnected returns a channel closed when the connection is next
// established (a reconnect, or a first connect that had to be retried).
// Sinks use it to retry at once instead of waiting out their backoff.
func (c *Conn) Reconnected() <-chan struct{} { return c.up.wait() }
