package mqtt

import (
	paho "github.com/eclipse/paho.mqtt.golang"
)

// dispatch is paho's default publish handler: it routes msg to every
// subscription whose filter matches. It runs on paho's router goroutine
// (OrderMatters), so arrival order is the order messages enter the ack
// queue; it blocks only while a subscriber has no free in-flight slot.
func (c *Conn) dispatch(_ paho.Client, msg paho.Message) {
	c.stats.received.Add(1)
	if msg.Duplicate() {
		c.stats.duplicates.Add(1)
	}
	c.mu.Lock()
	var subs []*Subscription
	for _, s := range c.subs {
		if s.matches(msg.Topic()) {
			subs = append(subs, s)
		}
	}
	q := c.acks
	c.mu.Unlock()
	if len(subs) == 0 {
		// Nobody to take it (a subscriber not started yet, or stopped).
		// Leaving it unacknowledged keeps it at the broker.
		c.stats.unrouted.Add(1)
		if msg.Qos() > 0 {
			c.strand(1)
		}
		return
	}
	var ack *pending
	if msg.Qos() > 0 {
		ack = q.add(msg, len(subs))
	}
	for _, s := range subs {
		d := &Delivery{Topic: msg.Topic(), Payload: msg.Payload(), QoS: msg.Qos(),
			Retained: msg.Retained(), Duplicate: msg.Duplicate(), sub: s, ack: ack}
		if !s.offer(d) {
			c.stats.unrouted.Add(1)
			if ack != nil {
				ack.settle(errStopped)
			}
		}
	}
}
