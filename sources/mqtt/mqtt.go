// Package mqtt registers the `mqtt` source: messages from topic filters on a
// shared mqtt connection, acknowledged to the broker only once the pipeline
// has delivered them.
package mqtt

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/edgeflow/edgeflow/codec"
	"github.com/edgeflow/edgeflow/component"
	"github.com/edgeflow/edgeflow/component/address"
	"github.com/edgeflow/edgeflow/component/schema"
	mqttconn "github.com/edgeflow/edgeflow/connections/mqtt"
	"github.com/edgeflow/edgeflow/pipeline"
	"github.com/rs/zerolog"
)

func init() {
	component.Register(component.Spec{
		Kind:    pipeline.KindSource,
		Name:    "mqtt",
		Summary: "Subscribe to MQTT topics; acknowledge each message once it is delivered.",
		Description: `Receives from one or more topic filters (wildcards and $share/<group>/<filter>
shared subscriptions) on a named mqtt connection and decodes payloads with codec. Each
QoS 1/2 message is acknowledged to the broker only after everything derived from it has been
delivered, filtered or dead-lettered, in arrival order. Payloads that do not decode go to the
dead-letter sink with their original bytes. A message that fails downstream is not
acknowledged: the broker redelivers it after a reconnect (persistent session). Deliveries
are counted per message (packet id, within the session): once a message has failed
max_deliver times it goes to the dead-letter sink with its last error instead of being
processed again, so a message that can never succeed cannot loop for ever. Should the
dead-letter sink fail it too, it is logged at error level and acknowledged after
` + "`max_deliver`" + ` + 3 deliveries.
At most max_in_flight messages are held unsettled; beyond that the connection stops taking
messages, which withholds PUBACKs and so holds the broker back.`,
		Fields: []component.Field{
			{Name: "connection", Type: component.String, Description: "Name of an mqtt connection."},
			{Name: "topics", Type: component.StringList, Example: "[plant/+/temp, $share/edge/plant/+/vib]",
				Description: "Topic filters to subscribe to."},
			{Name: "qos", Type: component.Int, Default: 1, Min: component.Bound(0), Max: component.Bound(2),
				Description: "Subscription QoS. 0 can lose messages; 1 (default) redelivers what is not acknowledged."},
			{Name: "codec", Type: component.String, Default: "json", Enum: codec.DecoderNames(), Description: "Payload decoder."},
			component.FieldsOption(),
			address.KeyOption(true),
			address.TimeOption("", "the time the message arrived"),
			{Name: "max_deliver", Type: component.Int, Default: 5, Min: component.Bound(1),
				Description: "Deliveries of a message that keeps failing before it is sent to the dead-letter sink."},
			{Name: "max_in_flight", Type: component.Int, Default: 256, Min: component.Bound(1), Max: component.Bound(65535),
				Description: "Messages received and not yet settled. Keep it at least the broker's per-client inflight window (mosquitto max_inflight_messages, default 20) so the window, not this bound, paces the broker."},
		},
		Example: `sources:
  temps:
    type: mqtt
    connection: plant
    topics: [plant/+/temp]
    qos: 1
    key: {topic_token: 2}     # plant/<sensor>/temp
    time: {field: ts}         # default: the time the message arrived`,
		New: newSource,
		Schema: func(conf *component.Config, _ schema.Schema, _ *component.Resources) (schema.Schema, error) {
			return component.DeclaredSchema(conf, codec.DecoderSchema(conf.String("codec")))
		},
	})
}

// Source is the mqtt source.
type Source struct {
	sub       *mqttconn.Subscription
	dec       codec.Decoder
	codecName string
	key       address.Key
	time      address.Time
	log       zerolog.Logger
	// fill is dec when it can decode into the reused fields map.
	fill codec.FillDecoder
	// maxDeliver is how often a message may fail before it is
	// dead-lettered.
	maxDeliver int
	pool       receivedPool
	settle     pipeline.SettleFunc // pool.settle, made once
}

// deadLetterTries is how many deliveries past max_deliver a message gets
// for its dead letter to be stored, before it is dropped with an error.
const deadLetterTries = 3

func newSource(conf *component.Config, res *component.Resources) (any, error) {
	conn, err := component.ConnectionAs[*mqttconn.Conn](conf, res, "connection", "mqtt")
	if err != nil {
		return nil, err
	}
	dec, err := codec.NewDecoder(conf.String("codec"))
	if err != nil {
		return nil, conf.Errorf("codec", "%v", err)
	}
	s := &Source{dec: dec, codecName: conf.String("codec"), log: res.Logger, maxDeliver: conf.Int("max_deliver")}
	s.fill, _ = dec.(codec.FillDecoder)
	s.settle = s.pool.settle
	if s.key, err = address.KeyFrom(conf, "/"); err != nil {
		return nil, err
	}
	if s.time, err = address.TimeFrom(conf); err != nil {
		return nil, err
	}
	// Registered now (no I/O) so that messages the broker holds for the
	// persistent session find this source as soon as the connection is up.
	s.sub, err = conn.Register(conf.StringList("topics"), byte(conf.Int("qos")), conf.Int("max_in_flight"))
	if err != nil {
		return nil, conf.Errorf("topics", "%v", err)
	}
	return s, nil
}

// Ready implements pipeline.Readier: the source is ready once the broker
// has acknowledged its subscription, so that a publisher waiting for
// /readyz loses nothing to a subscription still in flight.
func (s *Source) Ready() bool { return s.sub.Subscribed() }

// Run emits received messages until ctx is done. Deliveries not yet emitted
// when it returns are left unacknowledged (the broker keeps them).
func (s *Source) Run(ctx context.Context, out pipeline.SourceOutput) error {
	defer s.sub.Close()
	// Subscribe while reading: on a connection that is already up (a
	// pipeline reloaded on a kept connection), deliveries for this
	// subscription can fill its in-flight window before the SUBACK comes,
	// and the client reads the SUBACK only once the dispatcher has handed
	// them over.
	opened := make(chan error, 1)
	go func() { opened <- s.sub.Open(ctx) }()
	defer func() {
		if opened != nil {
			<-opened
		}
	}()
	for {
		select {
		case <-ctx.Done():
			return nil
		case err := <-opened:
			opened = nil
			if err != nil {
				s.log.Warn().Err(err).Msg("subscribe failed; retrying on reconnect")
			}
		case d := <-s.sub.C():
			if err := s.emit(&d, out); err != nil {
				return nil // the pipeline is aborting
			}
		}
	}
}

// metas holds the metadata of every kind of delivery, indexed by QoS,
// retained and duplicate: messages share these read-only maps (see
// pipeline.Message.Meta) instead of allocating one each.
var metas = func() (t [3][2][2]map[string]string) {
	for q := range t {
		for r := range t[q] {
			for d := range t[q][r] {
				t[q][r][d] = newMeta(byte(q), r == 1, d == 1)
			}
		}
	}
	return t
}()

func newMeta(qos byte, retained, duplicate bool) map[string]string {
	m := map[string]string{"mqtt_qos": strconv.Itoa(int(qos))}
	if retained {
		m["mqtt_retained"] = "true"
	}
	if duplicate {
		m["mqtt_duplicate"] = "true"
	}
	return m
}

// deliveryMeta returns the shared metadata map of a delivery.
func deliveryMeta(qos byte, retained, duplicate bool) map[string]string {
	if int(qos) >= len(metas) { // not a valid QoS; paho does not pass one on
		return newMeta(qos, retained, duplicate)
	}
	return metas[qos][b2i(retained)][b2i(duplicate)]
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// emit turns d into a message and hands it over. Once it has, r (and so
// d) may already be settled and reused: nothing here touches them after.
func (s *Source) emit(d *mqttconn.Delivery, out pipeline.SourceOutput) error {
	r := s.pool.get()
	r.d = *d
	d = &r.d
	m := &r.msg
	m.Payload, m.Topic, m.IngestTime = d.Payload, d.Topic, time.Now()
	m.Meta = deliveryMeta(d.QoS, d.Retained, d.Duplicate)
	m.Track(s.settle, r)
	if failed := d.Delivered - 1; failed >= s.maxDeliver+deadLetterTries {
		// Its dead letter failed too, deadLetterTries times (the pipeline
		// logged each failure): stop the loop here.
		s.log.Error().Str("topic", d.Topic).Int("deliveries", d.Delivered).Int("payload_bytes", len(d.Payload)).
			Str("last_error", d.LastError).
			Msg("dropping a message that failed every delivery and could not be dead-lettered")
		m.Release(nil)
		return nil
	}
	if err := s.decode(r); err != nil {
		out.DeadLetter(m, fmt.Errorf("decode %s payload from topic %q: %w", s.codecName, d.Topic, err))
		return nil
	}
	if err := s.key.Apply(m); err != nil {
		out.DeadLetter(m, err)
		return nil
	}
	if err := s.time.Apply(m); err != nil {
		out.DeadLetter(m, err)
		return nil
	}
	if failed := d.Delivered - 1; failed >= s.maxDeliver {
		out.DeadLetter(m, fmt.Errorf("gave up after %d failed deliveries: %s", failed, d.LastError))
		return nil
	}
	return out.Emit(m)
}

// decode fills r's message from its payload, into r's own fields map when
// the codec can.
func (s *Source) decode(r *received) error {
	if s.fill != nil {
		return s.fill.DecodeInto(r.d.Payload, &r.msg, r.fields)
	}
	return s.dec.Decode(r.d.Payload, &r.msg)
}
