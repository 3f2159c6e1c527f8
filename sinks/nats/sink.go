// Package nats is the `nats` sink: publish to a subject made from each
// message, on core NATS (confirmed by a flush) or JetStream (confirmed by
// the stream's PubAck).
package nats

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/edgeflow/edgeflow/codec"
	"github.com/edgeflow/edgeflow/component"
	"github.com/edgeflow/edgeflow/component/address"
	natsconn "github.com/edgeflow/edgeflow/connections/nats"
	"github.com/edgeflow/edgeflow/pipeline"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
)

func init() {
	component.Register(component.Spec{
		Kind:    pipeline.KindSink,
		Name:    "nats",
		Summary: "Publish messages to NATS subjects or JetStream streams.",
		Description: "Publishes each message to `subject`, a template filled from the message: `{key}`, `{topic}`, " +
			"`{fields.NAME}`, `{meta.NAME}`. Whitespace and wildcards in substituted values become `_`; a message " +
			"whose placeholder is missing or empty fails and goes to the dead-letter sink.\n\n" +
			"With `jetstream: true` a write succeeds once the stream has stored the message (its PubAck); a batch " +
			"is published asynchronously with up to `max_in_flight` acks outstanding. Without it, a write succeeds " +
			"once the server has received the message (a flush); core NATS subscribers may still miss it.\n\n" +
			"Metadata becomes headers (except keys starting with `Nats-`). `msg_id` sets `Nats-Msg-Id`, which makes " +
			"JetStream drop duplicates within the stream's duplicate window: with `{meta.nats_stream}-{meta.nats_stream_seq}` " +
			"from a JetStream source, redeliveries and retries are stored once. See docs/nats.md.",
		Fields:   fields,
		Example:  example,
		Batching: true,
		New: func(conf *component.Config, res *component.Resources) (any, error) {
			return New(conf, res)
		},
	})
}

const example = `sinks:
  alerts:
    type: nats
    input: score
    connection: bus
    subject: plant.alerts.{key}
    jetstream: true
    msg_id: "{meta.nats_stream}-{meta.nats_stream_seq}"`

var fields = []component.Field{
	{Name: "connection", Type: component.String, Description: "Name of a `nats` connection."},
	{Name: "subject", Type: component.String,
		Description: "Subject template: " + address.Placeholders + " are filled from the message.",
		Example:     "plant.scores.{key}"},
	{Name: "codec", Type: component.String, Default: "json", Enum: codec.EncoderNames(),
		Description: "How messages become payloads."},
	{Name: "jetstream", Type: component.Bool, Default: false,
		Description: "Publish to a JetStream stream and wait for its ack."},
	{Name: "stream", Type: component.String, Optional: true,
		Description: "JetStream only: the stream expected to store the messages; the server rejects a publish that lands elsewhere."},
	{Name: "msg_id", Type: component.String, Optional: true,
		Description: "Template for the Nats-Msg-Id header, for JetStream's duplicate detection.",
		Example:     "{meta.nats_stream}-{meta.nats_stream_seq}"},
	{Name: "headers", Type: component.Bool, Default: true, Description: "Send metadata as headers."},
	{Name: "max_in_flight", Type: component.Int, Default: 256, Min: component.Bound(1),
		Description: "JetStream only: most publishes awaiting their ack at once."},
	{Name: "timeout", Type: component.Duration, Default: "5s",
		Description: "How long a write waits for the server's confirmation."},
}

// Sink is the nats sink.
type Sink struct {
	log         zerolog.Logger
	conn        *natsconn.Conn
	subject     *address.Template
	msgID       *address.Template // nil without msg_id
	enc         codec.Encoder
	jetstream   bool
	stream      string
	headers     bool
	maxInFlight int
	timeout     time.Duration

	jsOnce sync.Once
	js     jetstream.JetStream
	jsErr  error

	duplicates atomic.Uint64
}

// New builds the sink; it does no I/O.
func New(conf *component.Config, res *component.Resources) (*Sink, error) {
	s := &Sink{
		log:         res.Logger,
		jetstream:   conf.Bool("jetstream"),
		stream:      conf.String("stream"),
		headers:     conf.Bool("headers"),
		maxInFlight: conf.Int("max_in_flight"),
		timeout:     conf.Duration("timeout"),
	}
	var err error
	if s.conn, err = component.ConnectionAs[*natsconn.Conn](conf, res, "connection", "nats"); err != nil {
		return nil, err
	}
	if s.subject, err = address.TemplateFrom(conf, "subject", checkSubject); err != nil {
		return nil, err
	}
	if conf.String("msg_id") != "" {
		if s.msgID, err = address.TemplateFrom(conf, "msg_id", nil); err != nil {
			return nil, err
		}
	}
	if s.enc, err = codec.NewEncoder(conf.String("codec")); err != nil {
		return nil, conf.Errorf("codec", "%v", err)
	}
	if s.stream != "" && !s.jetstream {
		return nil, conf.Errorf("stream", "stream applies only with jetstream: true")
	}
	if s.timeout <= 0 {
		return nil, conf.Errorf("timeout", "timeout must be positive")
	}
	return s, nil
}

// Duplicates counts publishes JetStream reported as duplicates (dropped by
// Nats-Msg-Id dedup): each is a redelivery or retry that dedup absorbed.
func (s *Sink) Duplicates() uint64 { return s.duplicates.Load() }

// ErrDisconnected is returned while the connection is down: a write is
// refused at once rather than parked in the reconnect buffer, where a
// timeout would later turn it into a duplicate.
var ErrDisconnected = errors.New("nats: not connected")

// Write publishes one message.
func (s *Sink) Write(ctx context.Context, m *pipeline.Message) error {
	return s.WriteBatch(ctx, []*pipeline.Message{m})
}

// WriteBatch publishes batch and returns once the server confirmed all of
// it. Each message has its own outcome: one that can never be published (it
// does not encode, its subject cannot be filled, it is larger than the
// server's max_payload or the stream's max_msg_size) fails permanently and
// alone, so it goes to the dead-letter sink while the rest of the batch is
// delivered. On a transient error, some messages of the batch may have
// been published: the engine retries or nacks the failed ones, so they can
// be published again (see msg_id).
func (s *Sink) WriteBatch(ctx context.Context, batch []*pipeline.Message) error {
	nc, err := s.conn.Client()
	if err != nil {
		return err
	}
	if !nc.IsConnected() {
		return pipeline.Unavailable(fmt.Errorf("%w (%s)", ErrDisconnected, nc.Status()))
	}
	errs := make([]error, len(batch))
	msgs := make([]*nats.Msg, 0, len(batch))
	idx := make([]int, 0, len(batch)) // batch index of each of msgs
	limit := nc.MaxPayload()
	for i, m := range batch {
		msg, err := s.natsMsg(m)
		if err == nil && limit > 0 && int64(len(msg.Data)) > limit {
			err = fmt.Errorf("%w: %d bytes, the server's max_payload is %d", nats.ErrMaxPayload, len(msg.Data), limit)
		}
		if err != nil {
			errs[i] = pipeline.Permanent(err)
			continue
		}
		msgs = append(msgs, msg)
		idx = append(idx, i)
	}
	for j, err := range s.publish(ctx, nc, msgs) {
		switch {
		case err == nil:
		case permanentPublishError(err):
			err = pipeline.Permanent(err)
		case !nc.IsConnected():
			// Lost the connection on the way: not the message's fault.
			err = pipeline.Unavailable(err)
		}
		errs[idx[j]] = err
	}
	for _, err := range errs {
		if err != nil {
			return &pipeline.BatchError{Errs: errs}
		}
	}
	return nil
}

// permanentPublishError reports whether the server refused a message for
// what it is, so that publishing it again would fail the same way.
func permanentPublishError(err error) bool {
	if errors.Is(err, nats.ErrMaxPayload) {
		return true
	}
	var api *jetstream.APIError
	return errors.As(err, &api) && api.ErrorCode == jsErrMessageTooLarge
}

// jsErrMessageTooLarge is the JetStream API error for a message larger than
// the stream's max_msg_size.
const jsErrMessageTooLarge jetstream.ErrorCode = 10054

// Reconnected implements pipeline.Reconnecter: retries resume as soon as
// the connection is back.
func (s *Sink) Reconnected() <-chan struct{} { return s.conn.Reconnected() }

// publish sends msgs and waits until the server has them all. It returns
// nil or one error per message.
func (s *Sink) publish(ctx context.Context, nc *nats.Conn, msgs []*nats.Msg) []error {
	if len(msgs) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	if s.jetstream {
		return s.publishJS(ctx, nc, msgs)
	}
	var errs []error
	fail := func(i int, err error) {
		if errs == nil {
			errs = make([]error, len(msgs))
		}
		errs[i] = err
	}
	sent := 0
	for i, msg := range msgs {
		if err := nc.PublishMsg(msg); err != nil {
			fail(i, fmt.Errorf("publish %s: %w", msg.Subject, err))
			continue
		}
		sent++
	}
	if sent == 0 {
		return errs
	}
	// The flush's PONG comes after the server has processed every
	// publish before it.
	if err := nc.FlushWithContext(ctx); err != nil {
		err = fmt.Errorf("flush after %d publishes: %w", sent, err)
		for i := range msgs {
			if errs == nil || errs[i] == nil {
				fail(i, err)
			}
		}
	}
	return errs
}

func (s *Sink) natsMsg(m *pipeline.Message) (*nats.Msg, error) {
	subj, err := s.subject.Render(m, subjectByte)
	if err != nil {
		return nil, fmt.Errorf("subject: %w", err)
	}
	if err := checkSubject(subj); err != nil {
		return nil, err
	}
	data, err := s.enc.Encode(m)
	if err != nil {
		return nil, fmt.Errorf("encode: %w", err)
	}
	msg := &nats.Msg{Subject: subj, Data: data}
	if s.headers {
		msg.Header = natsconn.MetaToHeader(m.Meta)
	}
	if s.msgID != nil {
		id, err := s.msgID.Render(m, nil)
		if err != nil {
			return nil, fmt.Errorf("msg_id: %w", err)
		}
		if msg.Header == nil {
			msg.Header = nats.Header{}
		}
		msg.Header.Set(jetstream.MsgIDHeader, id)
	}
	return msg, nil
}

func (s *Sink) jetStream(nc *nats.Conn) (jetstream.JetStream, error) {
	s.jsOnce.Do(func() {
		s.js, s.jsErr = jetstream.New(nc,
			jetstream.WithPublishAsyncMaxPending(s.maxInFlight),
			jetstream.WithPublishAsyncTimeout(s.timeout))
	})
	return s.js, s.jsErr
}

// publishJS publishes asynchronously, at most max_in_flight awaiting acks
// (PublishMsgAsync waits for a free slot), then waits for every ack. It
// returns nil or one error per message.
func (s *Sink) publishJS(ctx context.Context, nc *nats.Conn, msgs []*nats.Msg) []error {
	errs := make([]error, len(msgs))
	failed := false
	fail := func(i int, err error) { errs[i], failed = err, true }
	js, err := s.jetStream(nc)
	if err != nil {
		for i := range msgs {
			fail(i, fmt.Errorf("jetstream: %w", err))
		}
		return errs
	}
	var opts []jetstream.PublishOpt
	if s.stream != "" {
		opts = append(opts, jetstream.WithExpectStream(s.stream))
	}
	if dl, ok := ctx.Deadline(); ok {
		opts = append(opts, jetstream.WithStallWait(max(time.Until(dl), time.Millisecond)))
	}
	futures := make([]jetstream.PubAckFuture, len(msgs))
	for i, msg := range msgs {
		f, err := js.PublishMsgAsync(msg, opts...)
		if err != nil {
			fail(i, fmt.Errorf("publish %s: %w", msg.Subject, err))
			if !permanentPublishError(err) {
				// The connection or the async window is the trouble:
				// the rest would fail the same way.
				for j := i + 1; j < len(msgs); j++ {
					fail(j, fmt.Errorf("publish %s: not attempted: %w", msgs[j].Subject, err))
				}
				break
			}
			continue
		}
		futures[i] = f
	}
	// Wait for the acks even after a failed publish, so that no future
	// outlives this call with nobody to read it.
	for i, f := range futures {
		if f == nil {
			continue
		}
		select {
		case ack := <-f.Ok():
			if ack.Duplicate {
				s.duplicates.Add(1)
			}
		case err := <-f.Err():
			fail(i, fmt.Errorf("publish %s: %w", f.Msg().Subject, err))
		case <-ctx.Done():
			err := fmt.Errorf("waiting for JetStream acks: %w", context.Cause(ctx))
			for j := i; j < len(futures); j++ {
				if futures[j] != nil {
					fail(j, err)
				}
			}
			return errs
		}
	}
	if !failed {
		return nil
	}
	return errs
}
