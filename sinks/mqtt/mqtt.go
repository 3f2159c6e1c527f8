// Package mqtt registers the `mqtt` sink: publish each message to a topic
// rendered from the message, returning only once the broker has confirmed
// (QoS 1/2) or, at QoS 0, once it is written to the connection.
package mqtt

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/edgeflow/edgeflow/codec"
	"github.com/edgeflow/edgeflow/component"
	"github.com/edgeflow/edgeflow/component/address"
	mqttconn "github.com/edgeflow/edgeflow/connections/mqtt"
	"github.com/edgeflow/edgeflow/pipeline"
)

func init() {
	component.Register(component.Spec{
		Kind:    pipeline.KindSink,
		Name:    "mqtt",
		Summary: "Publish to MQTT; a message counts as delivered once the broker confirms it.",
		Description: `Publishes each message on a named mqtt connection. topic is a template filled from
the message: {key}, {topic}, {fields.NAME}, {meta.NAME}, as in alerts/{key} or
plant/{fields.line}/score; a message whose placeholder is missing or empty fails and goes to
the dead-letter sink. A message counts as
delivered only after the broker's PUBACK (QoS 1) or PUBCOMP (QoS 2); a batch is published at
once and confirmed together, and later batches are published while earlier ones await their
confirmations. A publish not confirmed within publish_timeout fails, and the engine retries
or nacks it: the broker may then receive it twice (at-least-once). At QoS 0 the broker
confirms nothing: a message counts as delivered once written to the connection, and a
batch written while the publisher is disconnected fails and is retried once it is back.`,
		Batching: true,
		Fields: []component.Field{
			{Name: "connection", Type: component.String, Description: "Name of an mqtt connection."},
			{Name: "topic", Type: component.String, Example: "alerts/{key}",
				Description: "Topic template: " + address.Placeholders + " are filled from the message."},
			{Name: "qos", Type: component.Int, Default: 1, Min: component.Bound(0), Max: component.Bound(2), Description: "Publish QoS."},
			{Name: "retain", Type: component.Bool, Default: false, Description: "Set the retain flag."},
			{Name: "codec", Type: component.String, Default: "json", Enum: codec.EncoderNames(), Description: "Payload encoder."},
			{Name: "publish_timeout", Type: component.Duration, Default: "30s", Description: "How long to wait for the broker's confirmation."},
			{Name: "max_payload", Type: component.Int, Default: maxPacket, Min: component.Bound(1), Max: component.Bound(maxPacket),
				Description: "Largest payload to publish; a larger message goes to the dead-letter sink. Set it to the broker's limit " +
					"(mosquitto message_size_limit / max_packet_size): MQTT 3.1.1 has no way to refuse one message, so a broker " +
					"drops the connection instead, and the publish would be retried for ever."},
		},
		Example: `sinks:
  alerts:
    type: mqtt
    input: [score]
    connection: plant
    topic: alerts/{key}
    qos: 1`,
		New: newSink,
	})
}

// Sink is the mqtt sink.
type Sink struct {
	bufs    sync.Pool // of *direct, for sendDirect
	conn    *mqttconn.Conn
	topic   *address.Template
	qos     byte
	retain  bool
	enc     codec.Encoder
	timeout time.Duration
	maxSize int
}

// maxPacket is the largest payload MQTT can carry (its remaining-length
// limit, less a little for the topic).
const maxPacket = 268435455 - 65536

func newSink(conf *component.Config, res *component.Resources) (any, error) {
	conn, err := component.ConnectionAs[*mqttconn.Conn](conf, res, "connection", "mqtt")
	if err != nil {
		return nil, err
	}
	enc, err := codec.NewEncoder(conf.String("codec"))
	if err != nil {
		return nil, conf.Errorf("codec", "%v", err)
	}
	s := &Sink{conn: conn, qos: byte(conf.Int("qos")), retain: conf.Bool("retain"), enc: enc, timeout: conf.Duration("publish_timeout"),
		maxSize: conf.Int("max_payload")}
	if s.topic, err = address.TemplateFrom(conf, "topic", checkTopic); err != nil {
		return nil, err
	}
	return s, nil
}

func checkTopic[T ~string | ~[]byte](t T) error {
	if len(t) == 0 {
		return errors.New("empty topic")
	}
	for i := 0; i < len(t); i++ {
		switch t[i] {
		case '+', '#', 0:
			return fmt.Errorf("topic %q: + and # are for subscriptions, not publishing", t)
		}
	}
	return nil
}

func (s *Sink) render(m *pipeline.Message) (string, error) {
	if s.topic.Static() {
		return s.topic.String(), nil
	}
	t, err := s.topic.Render(m, nil)
	if err != nil {
		return "", fmt.Errorf("topic: %w", err)
	}
	if err := checkTopic(t); err != nil {
		return "", err
	}
	return t, nil
}

// Reconnected implements pipeline.Reconnecter: retries resume as soon as
// the publisher is connected again.
func (s *Sink) Reconnected() <-chan struct{} { return s.conn.PublisherReconnected() }

// Write publishes m and waits for the broker's confirmation.
func (s *Sink) Write(ctx context.Context, m *pipeline.Message) error {
	return s.WriteBatch(ctx, []*pipeline.Message{m})
}

// WriteBatch publishes every message at once, then waits for all
// confirmations: a round trip per batch rather than per message.
func (s *Sink) WriteBatch(ctx context.Context, batch []*pipeline.Message) error {
	return s.Send(ctx, batch)()
}

// Send publishes every message of batch, in order, and returns a function
// that waits for the broker's confirmations. The engine sends further
// batches while earlier ones await theirs, so publishes stay in flight
// rather than waiting a round trip each. A message whose topic or payload
// cannot be made fails alone and permanently (it goes to the dead-letter
// sink); one the broker did not confirm within publish_timeout fails alone
// and is retried.
func (s *Sink) Send(ctx context.Context, batch []*pipeline.Message) (wait func() error) {
	if s.qos == 0 && s.conn.DirectPublish() {
		return s.sendDirect(batch)
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	errs := make([]error, len(batch))
	toks := make([]paho.Token, len(batch))
	failed := false
	for i, m := range batch {
		topic, err := s.render(m)
		if err != nil {
			errs[i], failed = pipeline.Permanent(err), true
			continue
		}
		payload, err := s.enc.Encode(m)
		if err != nil {
			errs[i], failed = pipeline.Permanent(fmt.Errorf("encode: %w", err)), true
			continue
		}
		if len(payload) > s.maxSize {
			errs[i], failed = pipeline.Permanent(fmt.Errorf("payload of %d bytes exceeds max_payload %d", len(payload), s.maxSize)), true
			continue
		}
		if toks[i], err = s.conn.PublishAsync(topic, s.qos, s.retain, payload); err != nil {
			errs[i], failed = err, true
		}
	}
	return func() error {
		defer cancel()
		for i, tok := range toks {
			if tok == nil {
				continue
			}
			if err := s.conn.Wait(ctx, tok); err != nil {
				errs[i], failed = err, true
			}
		}
		if !failed {
			return nil
		}
		if !s.conn.PublisherConnected() {
			// The broker is away: not the messages' fault.
			for i, err := range errs {
				if err != nil && !pipeline.IsPermanent(err) {
					errs[i] = pipeline.Unavailable(err)
				}
			}
		}
		return &pipeline.BatchError{Errs: errs}
	}
}
