package nats

import "strings"

// State reports the client's status for the dashboard (admin.Stater):
// "connected", "reconnecting", "closed"..., or "not started".
func (c *Conn) State() string {
	c.mu.Lock()
	nc := c.nc
	c.mu.Unlock()
	if nc == nil {
		return "not started"
	}
	return strings.ToLower(nc.Status().String())
}
