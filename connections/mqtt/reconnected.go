package mqtt

import "sync"

// upSignal is a broadcast that can fire many times: wait returns a channel
// closed by the next fire.
type upSignal struct {
	mu sync.Mutex
	ch chan struct{}
}

func (s *upSignal) wait() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ch == nil {
		s.ch = make(chan struct{})
	}
	return s.ch
}

func (s *upSignal) fire() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ch != nil {
		close(s.ch)
		s.ch = nil
	}
}

// PublisherReconnected returns a channel closed when the publishing client
// next (re)connects. Sinks use it to retry at once instead of waiting out
// their backoff.
func (c *Conn) PublisherReconnected() <-chan struct{} { return c.pubUp.wait() }
