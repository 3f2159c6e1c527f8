package mqtt

import (
	"errors"
	"fmt"
	"net"
	"net/url"

	paho "github.com/eclipse/paho.mqtt.golang"
)

// publishHeader is the first byte of a QoS 0 PUBLISH packet (type 3, no
// flags); retainFlag is its retain bit.
const (
	publishHeader = 0x30
	retainFlag    = 0x01
)

// maxTopic is the longest topic a PUBLISH can carry (a 16-bit length).
const maxTopic = 65535

// errPublisherDown is returned by WritePublishes while the publisher has no
// connection to write to.
var errPublisherDown = errors.New("mqtt: publisher not connected")

// AppendPublish appends a QoS 0 PUBLISH packet for topic and payload to
// buf, for WritePublishes.
func AppendPublish[T ~string | ~[]byte](buf []byte, topic T, retain bool, payload []byte) ([]byte, error) {
	if len(topic) > maxTopic {
		return buf, fmt.Errorf("topic of %d bytes exceeds MQTT's %d", len(topic), maxTopic)
	}
	rest := 2 + len(topic) + len(payload)
	if rest > 268435455 {
		return buf, fmt.Errorf("packet of %d bytes exceeds MQTT's remaining length limit", rest)
	}
	h := byte(publishHeader)
	if retain {
		h |= retainFlag
	}
	buf = append(buf, h)
	for {
		b := byte(rest & 0x7f)
		rest >>= 7
		if rest > 0 {
			b |= 0x80
		}
		buf = append(buf, b)
		if rest == 0 {
			break
		}
	}
	buf = append(buf, byte(len(topic)>>8), byte(len(topic)))
	buf = append(buf, topic...)
	return append(buf, payload...), nil
}

// DirectPublish reports whether QoS 0 publishes go through WritePublishes:
// when the broker is on plain TCP, which edgeflow dials and buffers itself.
// TLS and websocket publishers are paho's, and publish with PublishAsync.
// Before Start it reports false.
func (c *Conn) DirectPublish() bool { return c.plainTCP.Load() }

// WritePublishes sends n QoS 0 PUBLISH packets, made by AppendPublish, in
// one write to the publisher's connection. Through paho each QoS 0 publish
// cost a token, a timer and two goroutine hand-offs, and the sink then
// waited for every token: at tens of thousands of messages a second that
// was most of the sink's work, for a guarantee (the packet reached the
// connection's buffer) that this write gives as well. The packets go out
// whole, between paho's own (bufferedConn appends each write under a lock).
// It fails, and nothing is sent, while the publisher is not connected.
func (c *Conn) WritePublishes(packets []byte, n int) error {
	cl, err := c.publisher()
	if err != nil {
		return err
	}
	// Read the connection before asking whether the client is connected:
	// paho dials a new one only after leaving the connected state, so a
	// connection read first and found connected after has had its CONNECT
	// written (a PUBLISH must not precede it).
	nc := c.pubNet.Load()
	if nc == nil || !cl.IsConnectionOpen() {
		c.stats.publishFailures.Add(uint64(n))
		return errPublisherDown
	}
	if _, err := nc.Write(packets); err != nil {
		c.stats.publishFailures.Add(uint64(n))
		return fmt.Errorf("mqtt publish: %w", err)
	}
	// paho pings when it has sent nothing for a keepalive period; these
	// writes count.
	if s, ok := cl.(interface{ UpdateLastSent() }); ok {
		s.UpdateLastSent()
	}
	c.stats.published.Add(uint64(n))
	return nil
}

// openPublisher wraps the publishing client's open function: the buffered
// TCP connection it returns is the one WritePublishes writes to.
func (c *Conn) openPublisher(open paho.OpenConnectionFunc) paho.OpenConnectionFunc {
	return func(uri *url.URL, o paho.ClientOptions) (net.Conn, error) {
		conn, err := open(uri, o)
		if bc, ok := conn.(*bufferedConn); ok {
			c.pubNet.Store(bc)
		}
		return conn, err
	}
}
