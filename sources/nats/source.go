// Package nats is the `nats` source: core NATS subjects (at most
// once) or a JetStream durable pull consumer (at least once, acknowledged
// only when the pipeline has delivered the message).
package nats

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/edgeflow/edgeflow/codec"
	"github.com/edgeflow/edgeflow/component"
	"github.com/edgeflow/edgeflow/component/address"
	"github.com/edgeflow/edgeflow/component/schema"
	natsconn "github.com/edgeflow/edgeflow/connections/nats"
	"github.com/edgeflow/edgeflow/pipeline"
	"github.com/nats-io/nats.go"
	"github.com/rs/zerolog"
)

// Metadata keys the source sets on JetStream messages, besides the headers.
const (
	MetaStream    = "nats_stream"     // the stream's name
	MetaStreamSeq = "nats_stream_seq" // the message's sequence in the stream: unique, stable across redeliveries
	MetaDelivered = "nats_delivered"  // how often it has been delivered, 1 the first time
)

func init() {
	component.Register(component.Spec{
		Kind:    pipeline.KindSource,
		Name:    "nats",
		Summary: "Subscribe to NATS subjects, or consume a JetStream stream with acknowledgements.",
		Description: "Without `jetstream`, subscribes to core NATS `subjects` (optionally in a `queue` group). " +
			"Core NATS has no acknowledgements: messages are at most once, and lost while edgeflow is down or too slow.\n\n" +
			"With `jetstream`, reads a stream through a durable pull consumer. A message is acked only once the " +
			"pipeline has delivered it (or filtered or dead-lettered it); a failure naks it with a growing delay, " +
			"and after `max_deliver` failed attempts it goes to the dead-letter sink once and is terminated. " +
			"Attempts that failed because a sink was down (not connected) or the pipeline was stopping do not count. " +
			"Should the dead-letter sink fail it too, it is terminated with an error log after 3 more deliveries. " +
			"Delivery is at least once: see docs/nats.md for the duplicates that can occur and how to remove them.\n\n" +
			"Headers become metadata. JetStream messages also carry `nats_stream`, `nats_stream_seq` and `nats_delivered`. " +
			"Payloads that do not decode go to the dead-letter sink.",
		Fields:  fields,
		Example: example,
		New: func(conf *component.Config, res *component.Resources) (any, error) {
			return New(conf, res)
		},
		Schema: func(conf *component.Config, _ schema.Schema, _ *component.Resources) (schema.Schema, error) {
			return component.DeclaredSchema(conf, codec.DecoderSchema(conf.String("codec")))
		},
	})
}

const example = `sources:
  readings:
    type: nats
    connection: bus
    subjects: [plant.sensors.>]
    codec: json
    key: {topic_token: 3}   # plant.sensors.<id>
    jetstream:
      stream: SENSORS
      durable: edgeflow-readings
      max_deliver: 5`

var fields = []component.Field{
	{Name: "connection", Type: component.String, Description: "Name of a `nats` connection."},
	{Name: "subjects", Type: component.StringList, Description: "Subjects to read; wildcards allowed.",
		Example: "[plant.sensors.>]"},
	{Name: "queue", Type: component.String, Optional: true,
		Description: "Core NATS only: queue group, so that several edgeflow instances share the subjects."},
	{Name: "codec", Type: component.String, Default: "json", Enum: codec.DecoderNames(),
		Description: "How payloads become fields."},
	component.FieldsOption(),
	address.KeyOption(true),
	address.TimeOption("", "the time JetStream stored the message, or the receive time for core NATS"),
	{Name: "pending_limit", Type: component.Int, Default: 1024, Min: component.Bound(1),
		Description: "Core NATS only: messages buffered ahead of the pipeline; past it the client drops messages (slow consumer)."},
	{Name: "jetstream", Type: component.Object, Optional: true,
		Description: "Consume a JetStream stream instead of plain subjects.",
		Fields:      jsFields},
}

// Source is the nats source.
type Source struct {
	log      zerolog.Logger
	conn     *natsconn.Conn
	subjects []string
	queue    string
	dec      codec.Decoder
	key      address.Key
	time     address.Time
	pending  int
	js       *jsConfig // nil for core NATS
	node     string    // for metrics: the node and its connection's name
	connName string
}

// New builds the source; it does no I/O.
func New(conf *component.Config, res *component.Resources) (*Source, error) {
	s := &Source{
		log:      res.Logger,
		subjects: conf.StringList("subjects"),
		queue:    conf.String("queue"),
		pending:  conf.Int("pending_limit"),
		node:     res.Node,
		connName: conf.String("connection"),
	}
	var err error
	if s.conn, err = component.ConnectionAs[*natsconn.Conn](conf, res, "connection", "nats"); err != nil {
		return nil, err
	}
	if len(s.subjects) == 0 {
		return nil, conf.Errorf("subjects", "give at least one subject")
	}
	for _, subj := range s.subjects {
		if err := checkSubject(subj); err != nil {
			return nil, conf.Errorf("subjects", "%v", err)
		}
	}
	if s.dec, err = codec.NewDecoder(conf.String("codec")); err != nil {
		return nil, conf.Errorf("codec", "%v", err)
	}
	if s.key, err = address.KeyFrom(conf, "."); err != nil {
		return nil, err
	}
	if s.time, err = address.TimeFrom(conf); err != nil {
		return nil, err
	}
	if js := conf.Object("jetstream"); js != nil {
		if s.queue != "" {
			return nil, conf.Errorf("queue", "queue applies to core NATS; JetStream consumers share work through the durable consumer")
		}
		if s.js, err = parseJS(js, res, s.subjects); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// checkSubject rejects subjects the server would refuse, so that the
// mistake shows at validate time with a line number.
func checkSubject(subj string) error {
	if subj == "" || strings.ContainsAny(subj, " \t\r\n") {
		return fmt.Errorf("subject %q is empty or contains whitespace", subj)
	}
	toks := strings.Split(subj, ".")
	for i, t := range toks {
		switch {
		case t == "":
			return fmt.Errorf("subject %q has an empty token", subj)
		case t == ">" && i != len(toks)-1:
			return fmt.Errorf("subject %q: '>' must be the last token", subj)
		case len(t) > 1 && strings.ContainsAny(t, "*>"):
			return fmt.Errorf("subject %q: wildcards must be whole tokens", subj)
		}
	}
	return nil
}

// Run reads until ctx is done. It returns an error only for a connection
// that was never started or a pipeline that aborted.
func (s *Source) Run(ctx context.Context, out pipeline.SourceOutput) error {
	nc, err := s.conn.Client()
	if err != nil {
		return err
	}
	if s.js != nil {
		return s.runJetStream(ctx, nc, out)
	}
	return s.runCore(ctx, nc, out)
}

// message turns a received NATS message into a pipeline message, decodes it
// and sets its key and time; an error (a payload that does not decode, a
// missing key or time field) is returned for the caller to dead-letter m
// with. stored is the source time unless the time option says otherwise;
// zero means the receive time.
func (s *Source) message(subject string, data []byte, h nats.Header, stored time.Time) (*pipeline.Message, error) {
	m := pipeline.NewMessage(data)
	m.Topic = subject
	m.SourceTime = m.IngestTime
	if !stored.IsZero() {
		m.SourceTime = stored
	}
	if len(h) > 0 {
		m.Meta = make(map[string]string, len(h)+3)
		natsconn.HeaderToMeta(h, m.Meta)
	}
	// A key from the subject is set before decoding, so that a payload that
	// does not decode is dead-lettered with its key.
	var keyErr error
	if s.key.TopicToken != 0 {
		keyErr = s.key.Apply(m)
	}
	if err := s.dec.Decode(data, m); err != nil {
		return m, fmt.Errorf("decode: %w", err)
	}
	if s.key.TopicToken == 0 {
		keyErr = s.key.Apply(m)
	}
	if keyErr != nil {
		return m, keyErr
	}
	return m, s.time.Apply(m)
}
