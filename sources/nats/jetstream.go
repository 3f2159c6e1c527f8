package nats

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/edgeflow/edgeflow/component"
	"github.com/edgeflow/edgeflow/pipeline"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

var jsFields = []component.Field{
	{Name: "stream", Type: component.String, Description: "Stream to read."},
	{Name: "create_stream", Type: component.Bool, Default: true,
		Description: "Create the stream, over `subjects`, when it does not exist. An existing stream is bound as it is, never changed."},
	{Name: "storage", Type: component.String, Default: "file", Enum: []string{"file", "memory"},
		Description: "Storage of a stream this source creates."},
	{Name: "duplicate_window", Type: component.Duration, Default: "2m",
		Description: "Dedup window (Nats-Msg-Id) of a stream this source creates."},
	{Name: "durable", Type: component.String, Optional: true,
		Description: "Durable consumer name, created or updated at start (default `edgeflow_<pipeline>_<node>`). " +
			"Instances with the same durable share the work."},
	{Name: "deliver_policy", Type: component.String, Default: "all", Enum: []string{"all", "new", "last", "last_per_subject"},
		Description: "Where a new consumer starts. An existing durable keeps its position."},
	{Name: "ack_wait", Type: component.Duration, Default: "30s",
		Description: "How long the server waits for an ack before redelivering. Messages still in the pipeline are kept alive with progress acks, so this only matters when edgeflow dies."},
	{Name: "max_ack_pending", Type: component.Int, Default: 1024, Min: component.Bound(1),
		Description: "Most messages delivered but not yet acked. This bounds what the source holds in the pipeline, and so its memory."},
	{Name: "max_deliver", Type: component.Int, Default: 5, Min: component.Bound(1),
		Description: "Attempts before a message that keeps failing is sent to the dead-letter sink and terminated."},
	{Name: "nak_delay", Type: component.Duration, Default: "1s",
		Description: "Redelivery delay after the first failure; it doubles with each further failure."},
	{Name: "max_nak_delay", Type: component.Duration, Default: "1m", Description: "Cap of the redelivery delay."},
	{Name: "max_in_flight", Type: component.Int, Optional: true, Min: component.Bound(1),
		Description: "Most messages this instance holds in its pipeline unacknowledged, besides the `pull_batch` buffered ahead of it " +
			"(default: max_ack_pending). Instances on one durable share its max_ack_pending, and one that falls behind would " +
			"take all of it: give each at most max_ack_pending / instances - pull_batch (docs/scale-out.md)."},
	{Name: "pull_batch", Type: component.Int, Optional: true, Min: component.Bound(1),
		Description: "Messages the client buffers ahead of the pipeline (default: the smaller of 256 and max_in_flight)."},
	{Name: "pinned", Type: component.Bool, Default: false,
		Description: "One instance at a time reads the durable (a pinned client; nats-server 2.11 or later): every message " +
			"of the durable goes to that instance, in order, as stateful stages such as windows need. When it dies (or pulls " +
			"nothing for 2.5 x `ack_wait`), another instance bound to the durable takes over, starting with the messages the " +
			"dead one left unacknowledged, in stream order. Give each partition of a stream its own durable to spread keys over instances " +
			"(docs/scale-out.md)."},
	{Name: "double_ack", Type: component.Bool, Default: false,
		Description: "Wait for the server to confirm each ack. Costs a round trip per message, and avoids the redelivery of messages whose ack was lost."},
}

type jsConfig struct {
	stream        string
	create        bool
	storage       jetstream.StorageType
	dupWindow     time.Duration
	durable       string
	deliver       jetstream.DeliverPolicy
	ackWait       time.Duration
	maxAckPending int
	maxInFlight   int
	maxDeliver    int
	nakDelay      time.Duration
	maxNakDelay   time.Duration
	pullBatch     int
	doubleAck     bool
	pinned        bool

	st    deliveries
	stats jsStats // for metrics
}

func parseJS(c *component.Config, res *component.Resources, subjects []string) (*jsConfig, error) {
	j := &jsConfig{
		stream:        c.String("stream"),
		create:        c.Bool("create_stream"),
		dupWindow:     c.Duration("duplicate_window"),
		durable:       c.String("durable"),
		ackWait:       c.Duration("ack_wait"),
		maxAckPending: c.Int("max_ack_pending"),
		maxInFlight:   c.Int("max_in_flight"),
		maxDeliver:    c.Int("max_deliver"),
		nakDelay:      c.Duration("nak_delay"),
		maxNakDelay:   c.Duration("max_nak_delay"),
		pullBatch:     c.Int("pull_batch"),
		doubleAck:     c.Bool("double_ack"),
		pinned:        c.Bool("pinned"),
	}
	if !validName(j.stream) {
		return nil, c.Errorf("stream", "stream name %q must be non-empty without spaces, '.', '*', '>', '/' or '\\'", j.stream)
	}
	if j.durable == "" {
		j.durable = defaultDurable(res.Pipeline, res.Node)
	} else if !validName(j.durable) {
		return nil, c.Errorf("durable", "durable name %q must be non-empty without spaces, '.', '*', '>', '/' or '\\'", j.durable)
	}
	j.storage = jetstream.FileStorage
	if c.String("storage") == "memory" {
		j.storage = jetstream.MemoryStorage
	}
	switch c.String("deliver_policy") {
	case "new":
		j.deliver = jetstream.DeliverNewPolicy
	case "last":
		j.deliver = jetstream.DeliverLastPolicy
	case "last_per_subject":
		j.deliver = jetstream.DeliverLastPerSubjectPolicy
	default:
		j.deliver = jetstream.DeliverAllPolicy
	}
	if j.ackWait < time.Second {
		return nil, c.Errorf("ack_wait", "ack_wait must be at least 1s")
	}
	switch {
	case j.maxInFlight == 0:
		j.maxInFlight = j.maxAckPending
	case j.maxInFlight > j.maxAckPending:
		return nil, c.Errorf("max_in_flight", "max_in_flight %d is above max_ack_pending %d: the server never lets this many be unacknowledged", j.maxInFlight, j.maxAckPending)
	}
	if j.pullBatch == 0 {
		j.pullBatch = min(256, j.maxInFlight)
	}
	j.st.init(j.maxAckPending)
	return j, nil
}

func validName(s string) bool {
	return s != "" && !strings.ContainsAny(s, " \t\r\n.*>/\\")
}

// defaultDurable names the consumer after the pipeline and node, so that a
// restarted edgeflow finds its position again.
func defaultDurable(pipelineName, node string) string {
	clean := strings.NewReplacer(" ", "_", "\t", "_", ".", "_", "*", "_", ">", "_", "/", "_", "\\", "_")
	name := "edgeflow"
	for _, p := range []string{pipelineName, node} {
		if p != "" {
			name += "_" + clean.Replace(p)
		}
	}
	return name
}

// deadLetterTries is how many deliveries past max_deliver a message gets
// for its dead letter to be stored, before it is terminated with an error.
const deadLetterTries = 3

// delivery is one delivery of a JetStream message in the pipeline: the
// token its settle function receives.
type delivery struct {
	msg       jetstream.Msg
	seq       uint64 // stream sequence
	delivered uint64
	dead      bool   // sent to the dead-letter sink: terminate once it is delivered there
	reason    string // why, for the log
}

// deliveries tracks the messages in the pipeline (to keep them alive with
// progress acks) and the last error of messages that failed (to say why a
// poison message is dead-lettered on its final delivery).
type deliveries struct {
	mu       sync.Mutex
	inflight map[*delivery]struct{}
	lastErr  map[uint64]string
	excused  map[uint64]uint64 // deliveries that failed for a sink outage, by stream sequence
	limit    int
	left     chan struct{} // signalled when a delivery leaves inflight
}

func (d *deliveries) init(maxAckPending int) {
	d.inflight = make(map[*delivery]struct{})
	d.left = make(chan struct{}, 1)
	d.lastErr = make(map[uint64]string)
	d.excused = make(map[uint64]uint64)
	// Failed messages may go to another instance and never come back here;
	// the cap keeps their entries from piling up.
	d.limit = 4 * maxAckPending
}

func (d *deliveries) add(x *delivery) {
	d.mu.Lock()
	d.inflight[x] = struct{}{}
	d.mu.Unlock()
}

// done removes x from the in-flight set; failure, if not empty, is kept as
// the message's last error, else any earlier one is forgotten.
func (d *deliveries) done(x *delivery, failure string) {
	d.mu.Lock()
	d.remove(x)
	if failure == "" {
		delete(d.lastErr, x.seq)
		delete(d.excused, x.seq)
	} else if _, ok := d.lastErr[x.seq]; ok || len(d.lastErr) < d.limit {
		d.lastErr[x.seq] = failure
	}
	d.mu.Unlock()
}

// excuse removes x from the in-flight set and notes that its delivery
// failed for want of a sink, not for what it is: it does not count
// towards max_deliver.
func (d *deliveries) excuse(x *delivery) {
	d.mu.Lock()
	d.remove(x)
	if _, ok := d.excused[x.seq]; ok || len(d.excused) < d.limit {
		d.excused[x.seq]++
	}
	d.mu.Unlock()
}

// failed returns how many earlier deliveries of seq count as failures: the
// server's count less the excused ones.
func (d *deliveries) failed(seq, delivered uint64) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return int(delivered) - 1 - int(min(d.excused[seq], delivered-1))
}

// drop removes x from the in-flight set and leaves its last error alone.
func (d *deliveries) drop(x *delivery) {
	d.mu.Lock()
	d.remove(x)
	d.mu.Unlock()
}

// remove takes x out of the in-flight set and wakes a waitRoom; d.mu is
// held.
func (d *deliveries) remove(x *delivery) {
	delete(d.inflight, x)
	select {
	case d.left <- struct{}{}:
	default:
	}
}

// waitRoom waits until fewer than n deliveries are in flight; it returns
// false if ctx ends first.
func (d *deliveries) waitRoom(ctx context.Context, n int) bool {
	for {
		d.mu.Lock()
		held := len(d.inflight)
		d.mu.Unlock()
		if held < n {
			return true
		}
		select {
		case <-d.left:
		case <-ctx.Done():
			return false
		}
	}
}

func (d *deliveries) lastError(seq uint64) string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.lastErr[seq]
}

// snapshot returns the messages in the pipeline in stream order. Progress
// acks sent in that order give them redelivery deadlines in that order, and
// the server redelivers in deadline order: after a crash the next instance
// gets them back in stream order, as a pinned durable's windows need.
func (d *deliveries) snapshot() []*delivery {
	d.mu.Lock()
	out := make([]*delivery, 0, len(d.inflight))
	for x := range d.inflight {
		out = append(out, x)
	}
	d.mu.Unlock()
	slices.SortFunc(out, func(a, b *delivery) int { return cmp.Compare(a.seq, b.seq) })
	return out
}

// InFlight returns how many JetStream messages are in the pipeline, neither
// acked nor naked yet (0 for core NATS).
func (s *Source) InFlight() int {
	if s.js == nil {
		return 0
	}
	s.js.st.mu.Lock()
	defer s.js.st.mu.Unlock()
	return len(s.js.st.inflight)
}

// emitError marks a failure of the pipeline (it aborted), as opposed to one
// of the consumer, which the source recovers from.
type emitError struct{ err error }

func (e emitError) Error() string { return e.err.Error() }
func (e emitError) Unwrap() error { return e.err }

func (s *Source) runJetStream(ctx context.Context, nc *nats.Conn, out pipeline.SourceOutput) error {
	js, err := jetstream.New(nc)
	if err != nil {
		return fmt.Errorf("jetstream: %w", err)
	}
	kaCtx, stopKeepalive := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer stopKeepalive()
	wg.Go(func() { s.keepalive(kaCtx) })

	backoff := 500 * time.Millisecond
	for {
		cons, err := s.setup(ctx, js)
		if err == nil {
			backoff = 500 * time.Millisecond
			s.log.Info().Str("stream", s.js.stream).Str("durable", s.js.durable).Strs("subjects", s.subjects).
				Msg("jetstream consumer started")
			err = s.consume(ctx, cons, out)
			var ee emitError
			if errors.As(err, &ee) {
				return ee.err
			}
		}
		if ctx.Err() != nil {
			return nil
		}
		s.log.Warn().Err(err).Dur("retry_in", backoff).Msg("jetstream consumer unavailable")
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 30*time.Second)
	}
}

// setup finds or creates the stream, then creates or updates the durable
// consumer. Redelivery limits are enforced here, not by the server (its
// MaxDeliver is unlimited): the server silently stops delivering a message
// after MaxDeliver, and edgeflow wants to dead-letter it instead.
func (s *Source) setup(ctx context.Context, js jetstream.JetStream) (jetstream.Consumer, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	j := s.js
	stream, err := js.Stream(ctx, j.stream)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		if !j.create {
			return nil, fmt.Errorf("stream %s does not exist (create_stream is false)", j.stream)
		}
		stream, err = js.CreateStream(ctx, jetstream.StreamConfig{
			Name: j.stream, Subjects: s.subjects, Storage: j.storage, Duplicates: j.dupWindow,
		})
		if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
			stream, err = js.Stream(ctx, j.stream) // another instance was first
		} else if err == nil {
			s.log.Info().Str("stream", j.stream).Strs("subjects", s.subjects).Msg("created jetstream stream")
		}
	}
	if err != nil {
		return nil, fmt.Errorf("stream %s: %w", j.stream, err)
	}
	cfg := jetstream.ConsumerConfig{
		Durable:       j.durable,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       j.ackWait,
		MaxAckPending: j.maxAckPending,
		MaxDeliver:    -1,
		DeliverPolicy: j.deliver,
	}
	if j.pinned {
		cfg.PriorityGroups = []string{pinGroup}
		cfg.PriorityPolicy = jetstream.PriorityPolicyPinned
		cfg.PinnedTTL = j.pinnedTTL()
	}
	switch {
	case coversStream(stream.CachedInfo(), s.subjects):
		// No filter: the consumer reads the whole stream anyway, and a
		// wildcard filter over many subjects costs nats-server 2.9 a scan
		// per message (~500 msgs/s over 100 subjects).
	case len(s.subjects) == 1:
		cfg.FilterSubject = s.subjects[0]
	default:
		cfg.FilterSubjects = s.subjects // needs nats-server 2.10
	}
	// A durable that is already as wanted is bound without an update: on a
	// cluster, a create racing another instance's create of the same new
	// durable can leave one of them pulling from a consumer that never
	// delivers to it (docs/scale-out.md); instances that start together
	// against an existing durable then never race.
	if existing, err := stream.Consumer(ctx, j.durable); err == nil && asWanted(existing.CachedInfo(), cfg) {
		return existing, checkPinned(existing, j.pinned)
	}
	cons, err := stream.CreateOrUpdateConsumer(ctx, cfg)
	if err == nil {
		return cons, checkPinned(cons, j.pinned)
	}
	// An existing durable may refuse some changes (its deliver policy, say):
	// bind it as it is rather than not run at all.
	existing, gerr := stream.Consumer(ctx, j.durable)
	if gerr != nil {
		return nil, fmt.Errorf("consumer %s: %w", j.durable, err)
	}
	info := existing.CachedInfo()
	ev := s.log.Warn().Err(err).Str("durable", j.durable)
	if info != nil && info.Config.MaxDeliver > 0 {
		ev = ev.Int("server_max_deliver", info.Config.MaxDeliver)
	}
	ev.Msg("cannot update the existing consumer; binding it as it is (a server-side max_deliver drops poison messages without a dead letter)")
	return existing, checkPinned(existing, j.pinned)
}

// asWanted reports whether an existing consumer has every setting the
// source would give it.
func asWanted(info *jetstream.ConsumerInfo, want jetstream.ConsumerConfig) bool {
	if info == nil {
		return false
	}
	have := info.Config
	return have.AckPolicy == want.AckPolicy && have.AckWait == want.AckWait &&
		have.MaxAckPending == want.MaxAckPending && have.MaxDeliver == want.MaxDeliver &&
		have.DeliverPolicy == want.DeliverPolicy &&
		have.FilterSubject == want.FilterSubject && slices.Equal(have.FilterSubjects, want.FilterSubjects) &&
		have.PriorityPolicy == want.PriorityPolicy && slices.Equal(have.PriorityGroups, want.PriorityGroups) &&
		have.PinnedTTL == want.PinnedTTL
}

// pinGroup is the priority group of pinned durables.
const pinGroup = "edgeflow"

// pinnedTTL is how long a pinned instance may send no pull request before
// the server gives the durable to another. Longer than two ack waits, so
// that the messages a dead instance held are due for redelivery (the
// server checks every ack_wait) before the next instance pulls: they then
// come first, and order holds across the handover.
func (j *jsConfig) pinnedTTL() time.Duration { return 2*j.ackWait + j.pullExpiry() }

// pullExpiry is how long one pull request waits. An idle source re-pulls
// at least this often; for a pinned instance that keeps its pin.
func (j *jsConfig) pullExpiry() time.Duration { return max(time.Second, j.ackWait/2) }

// checkPinned fails when pinned is wanted and the server ignored it: a
// server older than 2.11 drops priority groups silently, and every
// instance would then read the durable at once.
func checkPinned(cons jetstream.Consumer, pinned bool) error {
	if !pinned {
		return nil
	}
	info := cons.CachedInfo()
	if info == nil || info.Config.PriorityPolicy != jetstream.PriorityPolicyPinned {
		return errors.New("the consumer is not pinned: pinned needs nats-server 2.11 or later")
	}
	return nil
}

// coversStream reports whether subjects are exactly the stream's own
// subjects (in any order), so that filtering on them selects everything.
func coversStream(info *jetstream.StreamInfo, subjects []string) bool {
	if info == nil {
		return false
	}
	own := slices.Sorted(slices.Values(info.Config.Subjects))
	return slices.Equal(own, slices.Sorted(slices.Values(subjects)))
}

// consume reads messages until ctx is done (nil), the pipeline aborts
// (emitError) or the consumer fails (any other error; the caller sets it up
// again). The iterator keeps at most pull_batch messages buffered and
// re-issues its pulls by itself across reconnects.
func (s *Source) consume(ctx context.Context, cons jetstream.Consumer, out pipeline.SourceOutput) error {
	// Pull requests expire after half ack_wait, not nats.go's 30 s: one
	// left open by a run that aborted or crashed can be handed messages
	// that nobody reads any more (each then waits out ack_wait again), so
	// a short life bounds how long a restart waits for its redeliveries.
	opts := []jetstream.PullMessagesOpt{jetstream.PullMaxMessages(s.js.pullBatch), jetstream.PullExpiry(s.js.pullExpiry())}
	if s.js.pinned {
		opts = append(opts, jetstream.PullPriorityGroup(pinGroup))
	}
	it, err := cons.Messages(opts...)
	if err != nil {
		return fmt.Errorf("consume: %w", err)
	}
	defer it.Stop()
	// Messages held for reordering are neither acked nor kept alive: if
	// the source stops meanwhile, the server redelivers them.
	ro := reorder{limit: s.js.maxAckPending}
	emit := func(msgs ...jetstream.Msg) error {
		for _, m := range msgs {
			if err := s.handle(m, out); err != nil {
				return emitError{err}
			}
		}
		return nil
	}
	for {
		// Taking no more than max_in_flight leaves the rest of a shared
		// durable's max_ack_pending to the other instances.
		if !s.js.st.waitRoom(ctx, s.js.maxInFlight) {
			return nil
		}
		next, cancel := ctx, context.CancelFunc(func() {})
		if len(ro.held) > 0 {
			next, cancel = context.WithTimeout(ctx, reorderWait)
		}
		msg, err := it.Next(jetstream.NextContext(next))
		cancel()
		switch {
		case err != nil && ctx.Err() != nil:
			return nil
		case err != nil && len(ro.held) > 0 && errors.Is(err, context.DeadlineExceeded):
			if err := emit(ro.flush()...); err != nil {
				return err
			}
			continue
		case err != nil:
			return fmt.Errorf("next message: %w", err)
		}
		if s.js.pinned && ro.hold(msg) {
			continue
		}
		if len(ro.held) > 0 {
			// A first delivery is newer than every redelivery held.
			if err := emit(ro.flush()...); err != nil {
				return err
			}
		}
		if err := emit(msg); err != nil {
			return err
		}
	}
}

// handle emits one JetStream message, or dead-letters it when it does not
// decode or has failed max_deliver times already.
func (s *Source) handle(msg jetstream.Msg, out pipeline.SourceOutput) error {
	j := s.js
	md, err := msg.Metadata()
	if err != nil {
		// Not a JetStream delivery: nothing to ack, nothing to redeliver.
		s.log.Warn().Err(err).Str("subject", msg.Subject()).Msg("ignoring a message without JetStream metadata")
		return nil
	}
	d := &delivery{msg: msg, seq: md.Sequence.Stream, delivered: md.NumDelivered}
	j.stats.received(md.NumDelivered, md.NumPending)
	m, derr := s.message(msg.Subject(), msg.Data(), msg.Headers(), md.Timestamp)
	if m.Meta == nil {
		m.Meta = make(map[string]string, 3)
	}
	m.Meta[MetaStream] = md.Stream
	m.Meta[MetaStreamSeq] = strconv.FormatUint(d.seq, 10)
	m.Meta[MetaDelivered] = strconv.FormatUint(d.delivered, 10)
	j.st.add(d) // before Track: the message may settle before Emit returns
	failed := j.st.failed(d.seq, d.delivered)
	switch {
	case failed >= j.maxDeliver+deadLetterTries:
		// Its dead letter failed too, deadLetterTries times (the pipeline
		// logged each failure): stop the loop here.
		s.log.Error().Uint64("seq", d.seq).Uint64("delivered", d.delivered).Str("subject", msg.Subject()).
			Int("payload_bytes", len(msg.Data())).Str("last_error", j.st.lastError(d.seq)).
			Msg("terminating a message that failed every delivery and could not be dead-lettered")
		j.st.done(d, "")
		if err := msg.Term(); err != nil {
			s.log.Warn().Err(err).Uint64("seq", d.seq).Msg("term failed")
		}
		return nil
	case failed >= j.maxDeliver:
		last := j.st.lastError(d.seq)
		if last == "" {
			last = "last error unknown (it failed on another instance, or before a restart)"
		}
		d.dead = true
		d.reason = fmt.Sprintf("gave up after %d failed deliveries: %s", failed, last)
		m.Track(s.settle, d)
		out.DeadLetter(m, errors.New(d.reason))
		return nil
	case derr != nil:
		d.dead, d.reason = true, derr.Error()
		m.Track(s.settle, d)
		out.DeadLetter(m, derr)
		return nil
	}
	m.Track(s.settle, d)
	return out.Emit(m)
}

// settle tells the server the fate of one delivery. It runs on the
// goroutine that finished the message (a sink worker, usually), possibly
// after Run has returned; the shared connection is still open then.
func (s *Source) settle(token any, err error) {
	d := token.(*delivery)
	j := s.js
	var aerr error
	var what string
	switch {
	case err == nil && d.dead:
		// The dead letter is delivered; terminating means no redelivery,
		// so the dead-letter sink sees the message once.
		j.st.done(d, "")
		what, aerr = "term", d.msg.Term()
	case err == nil && j.doubleAck:
		j.st.done(d, "")
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		what, aerr = "double ack", d.msg.DoubleAck(ctx)
		cancel()
	case err == nil:
		j.st.done(d, "")
		what, aerr = "ack", d.msg.Ack()
	case errors.Is(err, pipeline.ErrAborted):
		// Shutting down: let the next consumer have it at once. The
		// delivery does not count against max_deliver.
		j.st.excuse(d)
		what, aerr = "nak", d.msg.Nak()
	case pipeline.IsUnavailable(err):
		// A sink is down: not the message's fault, so the delivery does
		// not count against max_deliver.
		j.st.excuse(d)
		what, aerr = "nak (sink down)", d.msg.NakWithDelay(s.nakDelay(d.delivered))
	default:
		if d.dead {
			// The dead-letter sink failed: keep the original failure as
			// the reason the next attempt will give. After deadLetterTries
			// more deliveries handle terminates it.
			j.st.drop(d)
		} else {
			j.st.done(d, err.Error())
		}
		delay := s.nakDelay(d.delivered)
		s.log.Debug().Err(err).Uint64("seq", d.seq).Uint64("delivered", d.delivered).Dur("redeliver_in", delay).
			Msg("message failed; nak")
		what, aerr = "nak", d.msg.NakWithDelay(delay)
	}
	j.stats.settled(what, aerr)
	if aerr != nil {
		s.log.Warn().Err(aerr).Str("op", what).Uint64("seq", d.seq).
			Msg("could not settle a JetStream message; the server redelivers it after ack_wait")
	}
}

// nakDelay doubles nak_delay for each delivery after the first, up to
// max_nak_delay.
func (s *Source) nakDelay(delivered uint64) time.Duration {
	d := s.js.nakDelay
	for i := uint64(1); i < delivered && d < s.js.maxNakDelay; i++ {
		d *= 2
	}
	return min(d, s.js.maxNakDelay)
}

// keepalive sends progress acks for the messages in the pipeline a few
// times per ack_wait, so that a message queued behind backpressure is not
// redelivered (and duplicated) while edgeflow still holds it.
func (s *Source) keepalive(ctx context.Context) {
	t := time.NewTicker(s.js.ackWait / 3)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		for _, d := range s.js.st.snapshot() {
			if err := d.msg.InProgress(); err != nil {
				s.log.Debug().Err(err).Uint64("seq", d.seq).Msg("progress ack failed")
				break // disconnected: the rest would fail too
			}
		}
	}
}
