package mqtt

// State reports the connection for the dashboard (admin.Stater):
// "connected", or "disconnected" while it (re)connects or once closed.
func (c *Conn) State() string {
	if c.Connected() {
		return "connected"
	}
	return "disconnected"
}
