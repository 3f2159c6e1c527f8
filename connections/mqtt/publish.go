package mqtt

import (
	"context"
	"errors"
	"fmt"

	paho "github.com/eclipse/paho.mqtt.golang"
)

// PublishAsync starts a publish; Wait for its token.
func (c *Conn) PublishAsync(topic string, qos byte, retain bool, payload []byte) (paho.Token, error) {
	cl, err := c.publisher()
	if err != nil {
		return nil, err
	}
	return cl.Publish(topic, qos, retain, payload), nil
}

// publisher returns the publishing client, creating it on first use. paho
// reconnects it; its session persists (when it has a client id) so that a
// publish made while it is down stays in paho's store and is sent once it is
// back — a clean session would empty that store on connect, and the
// publish's token would never complete.
func (c *Conn) publisher() (paho.Client, error) {
	c.pubMu.Lock()
	defer c.pubMu.Unlock()
	if c.pub != nil {
		return c.pub, nil
	}
	c.mu.Lock()
	address := c.address
	c.mu.Unlock()
	if address == "" {
		return nil, errNotStarted
	}
	select {
	case <-c.stop:
		return nil, errors.New("mqtt: connection closed")
	default:
	}
	po, err := c.clientOptions(address)
	if err != nil {
		return nil, err
	}
	id := ""
	if c.opts.ClientID != "" {
		id = c.opts.ClientID + "-pub"
	}
	po.SetClientID(id).SetCleanSession(id == "").
		SetAutoReconnect(true).SetConnectRetry(true).
		SetConnectRetryInterval(c.opts.ReconnectMin).SetMaxReconnectInterval(c.opts.ReconnectMax).
		SetAutoAckDisabled(false).SetOrderMatters(false).
		SetDefaultPublishHandler(nil).
		SetConnectionLostHandler(func(_ paho.Client, err error) {
			c.log.Warn().Err(err).Msg("mqtt publisher connection lost; reconnecting")
		}).
		SetOnConnectHandler(func(paho.Client) { c.pubUp.fire() })
	if u := po.Servers[0]; u.Scheme == "tcp" || u.Scheme == "mqtt" {
		po.SetCustomOpenConnectionFn(c.openPublisher(openTCP))
	}
	c.pub = paho.NewClient(po)
	// With ConnectRetry the token completes once connected. Wait for it
	// (bounded): paho does not reliably hold publishes, QoS 0 ones above
	// all, made before the first connection is up.
	if tok := c.pub.Connect(); !tok.WaitTimeout(c.opts.ConnectTimeout) {
		return nil, errors.New("mqtt: publisher not connected yet; retrying in the background")
	}
	return c.pub, nil
}

// Wait waits for a publish token, counting the outcome.
func (c *Conn) Wait(ctx context.Context, tok paho.Token) error {
	select {
	case <-tok.Done():
	case <-ctx.Done():
		c.stats.publishFailures.Add(1)
		return fmt.Errorf("mqtt publish: no confirmation from the broker: %w", ctx.Err())
	}
	if err := tok.Error(); err != nil {
		c.stats.publishFailures.Add(1)
		return fmt.Errorf("mqtt publish: %w", err)
	}
	c.stats.published.Add(1)
	return nil
}

// PublisherConnected reports whether the publishing client is connected.
// A sink uses it to tell a broker outage from a message at fault.
func (c *Conn) PublisherConnected() bool {
	c.pubMu.Lock()
	defer c.pubMu.Unlock()
	return c.pub != nil && c.pub.IsConnectionOpen()
}
