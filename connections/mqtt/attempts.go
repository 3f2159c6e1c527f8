package mqtt

import "sync"

// attempts counts the failed deliveries of QoS 1/2 messages by packet id,
// for the session. A message that failed stays unacknowledged, so the
// broker keeps its packet id and resends it under the same id on the next
// connection (MQTT-4.4.0-1): the id names the message until it is
// acknowledged, when its count is forgotten. A session the broker lost
// starts its ids afresh, so the counts are reset then. The counts live in
// the process: a restarted edgeflow starts them over.
type attempts struct {
	mu     sync.Mutex
	failed map[uint16]attempt
}

type attempt struct {
	n    int    // failed deliveries so far
	last string // the latest failure
}

// next returns the number of the delivery that is arriving for id (1 for
// the first) and the error of the previous one.
func (a *attempts) next(id uint16) (delivered int, last string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	f := a.failed[id]
	return f.n + 1, f.last
}

// outcome records how a delivery of id ended: acknowledged (failed is
// false), failed with err, or released without a verdict (err nil).
func (a *attempts) outcome(id uint16, failed bool, err error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	switch {
	case !failed:
		delete(a.failed, id)
	case err != nil:
		if a.failed == nil {
			a.failed = map[uint16]attempt{}
		}
		f := a.failed[id]
		a.failed[id] = attempt{n: f.n + 1, last: err.Error()}
	}
}

// reset forgets every count: the broker lost the session.
func (a *attempts) reset() {
	a.mu.Lock()
	defer a.mu.Unlock()
	clear(a.failed)
}
