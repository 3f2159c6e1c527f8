package componenttest

import (
	"context"
	"errors"
	"reflect"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/edgeflow/edgeflow/pipeline"
)

// RunTimeout bounds a RunChain run. The test machines are small and shared,
// so it is generous; a run that needs it has hung.
const RunTimeout = 60 * time.Second

// Collector is a sink that keeps every message it is given, in order. It is
// safe for concurrent use; the zero value is ready.
type Collector struct {
	mu   sync.Mutex
	msgs []*pipeline.Message
}

// Write records a copy of m (Message.Clone: its fields and metadata maps
// copied, and the arrays its fields hold) and reports it delivered. A copy,
// because a sink must not keep a message or its arrays once it is
// delivered: its component may reuse them (generate and window do, and
// SetSlice hands a window's values array to its next window).
func (c *Collector) Write(_ context.Context, m *pipeline.Message) error {
	kept := m.Clone()
	for k, v := range kept.Fields {
		if a := reflect.ValueOf(v); a.Kind() == reflect.Slice && !a.IsNil() {
			own := reflect.MakeSlice(a.Type(), a.Len(), a.Len())
			reflect.Copy(own, a)
			kept.Fields[k] = own.Interface()
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.msgs = append(c.msgs, kept)
	return nil
}

// Messages returns a copy of what has been written so far.
func (c *Collector) Messages() []*pipeline.Message {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]*pipeline.Message(nil), c.msgs...)
}

// TrackingSource emits a fixed list of messages, tracking each, and records
// how they settle: how many were acknowledged or failed, and in which order.
// Tests use it to prove that a component settles what it is given, and not
// too early.
type TrackingSource struct {
	msgs          []*pipeline.Message
	acked, nacked atomic.Int64
	settles       atomic.Int64
	settledAt     []atomic.Int64 // per message: its place in settle order, from 1
}

// NewTrackingSource returns a source that emits msgs once, in order, then
// ends.
func NewTrackingSource(msgs ...*pipeline.Message) *TrackingSource {
	return &TrackingSource{msgs: msgs, settledAt: make([]atomic.Int64, len(msgs))}
}

func (s *TrackingSource) settle(token any, err error) {
	n := s.settles.Add(1)
	s.settledAt[token.(int)].Store(n)
	if err != nil {
		s.nacked.Add(1)
	} else {
		s.acked.Add(1)
	}
}

// Run emits the messages; it implements pipeline.Source.
func (s *TrackingSource) Run(_ context.Context, out pipeline.SourceOutput) error {
	for i, m := range s.msgs {
		m.Track(s.settle, i)
		if err := out.Emit(m); err != nil {
			return err
		}
	}
	return nil
}

// Acked is how many messages have settled successfully (delivered,
// filtered or dead-lettered).
func (s *TrackingSource) Acked() int64 { return s.acked.Load() }

// Nacked is how many messages have settled with an error.
func (s *TrackingSource) Nacked() int64 { return s.nacked.Load() }

// SettledAt returns the place of message i in the order in which the
// messages settled, counting from 1, or 0 if it has not settled yet.
func (s *TrackingSource) SettledAt(i int) int64 { return s.settledAt[i].Load() }

// Result is what a RunChain pipeline delivered: to its sink, and to its
// dead-letter sink.
type Result struct {
	Out, Dead []*pipeline.Message
}

// RunChain runs src -> stages[0] -> stages[1] ... -> a Collector, with a
// Collector as dead-letter sink, until the source ends and the pipeline
// drains. A wiring error, a run error, or a run longer than RunTimeout fails
// the test.
func RunChain(t testing.TB, src pipeline.Source, stages ...any) Result {
	t.Helper()
	p := pipeline.New(pipeline.Options{Name: "test"})
	out, dead := &Collector{}, &Collector{}
	errs := []error{p.AddSource("src", src, pipeline.NodeOptions{})}
	prev := "src"
	for i, st := range stages {
		name := "stage" + strconv.Itoa(i)
		errs = append(errs, p.AddStage(name, st, []string{prev}, pipeline.NodeOptions{}))
		prev = name
	}
	errs = append(errs, p.AddSink("out", out, []string{prev}, pipeline.NodeOptions{}),
		p.SetDeadLetter("dead", dead, pipeline.NodeOptions{}))
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), RunTimeout)
	defer cancel()
	if err := p.Run(ctx); err != nil {
		t.Fatal(err)
	}
	return Result{Out: out.Messages(), Dead: dead.Messages()}
}

// WaitFor polls cond every 20ms until it holds, and fails the test, naming
// what it waited for, if it still does not after timeout.
func WaitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
