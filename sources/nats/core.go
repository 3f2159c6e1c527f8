package nats

import (
	"context"
	"fmt"
	"time"

	"github.com/edgeflow/edgeflow/pipeline"
	"github.com/nats-io/nats.go"
)

// runCore subscribes to plain subjects. Core NATS has no acknowledgements,
// so messages are emitted untracked: at most once. The subscriptions feed
// one channel of pending_limit messages; when the pipeline backpressures for
// longer than that buffer lasts, nats.go drops messages and reports a slow
// consumer (counted by the connection).
func (s *Source) runCore(ctx context.Context, nc *nats.Conn, out pipeline.SourceOutput) error {
	ch := make(chan *nats.Msg, s.pending)
	var subs []*nats.Subscription
	defer func() {
		for _, sub := range subs {
			_ = sub.Unsubscribe()
		}
	}()
	for _, subj := range s.subjects {
		// With an empty queue name ChanQueueSubscribe is a plain subscribe.
		sub, err := nc.ChanQueueSubscribe(subj, s.queue, ch)
		if err != nil {
			return fmt.Errorf("subscribe %s: %w", subj, err)
		}
		subs = append(subs, sub)
	}
	s.log.Info().Strs("subjects", s.subjects).Str("queue", s.queue).Msg("nats core subscription started (at most once)")
	for {
		select {
		case <-ctx.Done():
			return nil
		case msg := <-ch:
			m, err := s.message(msg.Subject, msg.Data, msg.Header, time.Time{})
			if err != nil {
				out.DeadLetter(m, err)
				continue
			}
			if err := out.Emit(m); err != nil {
				return err
			}
		}
	}
}
