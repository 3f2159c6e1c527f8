// Package mqtt registers the `mqtt` sink: publish each message to a topic
// rendered from the message, returning only once the broker has confirmed.
package mqtt

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"text/template"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/edgeflow/edgeflow/codec"
	"github.com/edgeflow/edgeflow/component"
	mqttconn "github.com/edgeflow/edgeflow/connections/mqtt"
	"github.com/edgeflow/edgeflow/pipeline"
)

func init() {
	component.Register(component.Spec{
		Kind:    pipeline.KindSink,
		Name:    "mqtt",
		Summary: "Publish to MQTT; a message counts as delivered once the broker confirms it.",
		Description: `Publishes each message on a named mqtt connection. topic is a Go text/template
over {key, topic, fields, meta}: alerts/{{.key}}, plant/{{.fields.line}}/score. Write returns
only after the broker's PUBACK (QoS 1) or PUBCOMP (QoS 2); a batch is published at once and
confirmed together. A publish not confirmed within publish_timeout fails, and the engine retries
or nacks it: the broker may then receive it twice (at-least-once).`,
		Batching: true,
		Fields: []component.Field{
			{Name: "connection", Type: component.String, Description: "Name of an mqtt connection."},
			{Name: "topic", Type: component.String, Example: "alerts/{{.key}}",
				Description: "Topic, a text/template over .key, .topic, .fields and .meta."},
			{Name: "qos", Type: component.Int, Default: 1, Min: component.Bound(0), Max: component.Bound(2), Description: "Publish QoS."},
			{Name: "retain", Type: component.Bool, Default: false, Description: "Set the retain flag."},
			{Name: "codec", Type: component.String, Default: "json", Enum: codec.EncoderNames(), Description: "Payload encoder."},
			{Name: "publish_timeout", Type: component.Duration, Default: "30s", Description: "How long to wait for the broker's confirmation."},
		},
		Example: `sinks:
  alerts:
    type: mqtt
    input: [score]
    connection: plant
    topic: alerts/{{.key}}
    qos: 1`,
		New: newSink,
	})
}

// Sink is the mqtt sink.
type Sink struct {
	conn       *mqttconn.Conn
	topic      *template.Template // nil when the topic is constant
	constTopic string
	qos        byte
	retain     bool
	enc        codec.Encoder
	timeout    time.Duration
}

func newSink(conf *component.Config, res *component.Resources) (any, error) {
	conn, err := component.ConnectionAs[*mqttconn.Conn](conf, res, "connection", "mqtt")
	if err != nil {
		return nil, err
	}
	enc, err := codec.NewEncoder(conf.String("codec"))
	if err != nil {
		return nil, conf.Errorf("codec", "%v", err)
	}
	s := &Sink{conn: conn, qos: byte(conf.Int("qos")), retain: conf.Bool("retain"), enc: enc, timeout: conf.Duration("publish_timeout")}
	// text/template rather than a home-made ${key} syntax: users know it,
	// it reaches nested fields, and it is parsed once here so that a typo is
	// a config error with a position, not a failure per message.
	raw := conf.String("topic")
	if strings.Contains(raw, "{{") {
		s.topic, err = template.New("topic").Option("missingkey=error").Parse(raw)
		if err != nil {
			return nil, conf.Errorf("topic", "bad topic template: %v", err)
		}
	} else {
		if err := checkTopic(raw); err != nil {
			return nil, conf.Errorf("topic", "%v", err)
		}
		s.constTopic = raw
	}
	return s, nil
}

func checkTopic(t string) error {
	switch {
	case t == "":
		return errors.New("empty topic")
	case strings.ContainsAny(t, "+#\x00"):
		return fmt.Errorf("topic %q: + and # are for subscriptions, not publishing", t)
	}
	return nil
}

func (s *Sink) render(m *pipeline.Message) (string, error) {
	if s.topic == nil {
		return s.constTopic, nil
	}
	var b bytes.Buffer
	data := map[string]any{"key": m.Key, "topic": m.Topic, "fields": m.Fields, "meta": m.Meta}
	if err := s.topic.Execute(&b, data); err != nil {
		return "", fmt.Errorf("topic template: %w", err)
	}
	t := b.String()
	if err := checkTopic(t); err != nil {
		return "", err
	}
	return t, nil
}

// Write publishes m and waits for the broker's confirmation.
func (s *Sink) Write(ctx context.Context, m *pipeline.Message) error {
	return s.WriteBatch(ctx, []*pipeline.Message{m})
}

// WriteBatch publishes every message at once, then waits for all
// confirmations: a round trip per batch rather than per message. A message
// whose topic or payload cannot be made fails alone and permanently (it goes
// to the dead-letter sink); one the broker did not confirm fails alone and is
// retried.
func (s *Sink) WriteBatch(ctx context.Context, batch []*pipeline.Message) error {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
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
		if toks[i], err = s.conn.PublishAsync(topic, s.qos, s.retain, payload); err != nil {
			errs[i], failed = err, true
		}
	}
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
	return &pipeline.BatchError{Errs: errs}
}
