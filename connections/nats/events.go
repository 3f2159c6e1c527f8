package nats

import (
	"errors"

	"github.com/nats-io/nats.go"
)

// The connection's event handlers: they count and log.

func (c *Conn) onDisconnect(nc *nats.Conn, err error) {
	c.disconnects.Add(1)
	ev := c.log.Warn()
	if err == nil {
		ev = c.log.Debug() // a deliberate close
	}
	ev.Err(err).Msg("nats disconnected")
}

func (c *Conn) onReconnect(nc *nats.Conn) {
	n := c.reconnects.Add(1)
	c.up.fire()
	c.log.Info().Str("server", nc.ConnectedUrlRedacted()).Uint64("reconnects", n).Msg("nats reconnected")
}

func (c *Conn) onConnect(nc *nats.Conn) {
	// Only called when the first connect succeeded after retries.
	c.up.fire()
	c.log.Info().Str("server", nc.ConnectedUrlRedacted()).Msg("nats connected")
}

func (c *Conn) onClosed(*nats.Conn) { c.log.Debug().Msg("nats connection closed") }

func (c *Conn) onError(_ *nats.Conn, sub *nats.Subscription, err error) {
	if errors.Is(err, nats.ErrSlowConsumer) {
		c.slowConsumers.Add(1)
		subj := ""
		if sub != nil {
			subj = sub.Subject
		}
		c.log.Warn().Str("subject", subj).Msg("nats slow consumer: the server or client dropped messages")
		return
	}
	c.log.Error().Err(err).Msg("nats async error")
}
