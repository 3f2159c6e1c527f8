package pipeline

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestDeliversEverythingAndAcksOnce(t *testing.T) {
	st := newSettlements()
	src := &seqSource{n: 1000, settle: st}
	sink := &collectSink{}
	p := New(Options{Buffer: 8})
	mustAdd(t, p.AddSource("src", src, NodeOptions{}))
	mustAdd(t, p.AddStage("pass", pass, []string{"src"}, NodeOptions{}))
	mustAdd(t, p.AddSink("out", sink, []string{"pass"}, NodeOptions{}))
	if err := p.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	got := sink.got()
	if len(got) != 1000 || !slices.IsSorted(got) {
		t.Fatalf("sink got %d messages (sorted=%v), want 1000 in order", len(got), slices.IsSorted(got))
	}
	acked, nacked := st.counts()
	if acked != 1000 || nacked != 0 {
		t.Fatalf("acked %d nacked %d, want 1000 and 0", acked, nacked)
	}
	for seq, n := range st.acked {
		if n != 1 {
			t.Fatalf("message %d acked %d times", seq, n)
		}
	}
	s, _ := p.Stats("src")
	if s.Acked != 1000 || s.Emitted != 1000 {
		t.Fatalf("source stats %+v", s)
	}
}

func TestFanOutAcksOnlyAfterEveryBranchDelivers(t *testing.T) {
	st := newSettlements()
	fast := &collectSink{}
	slow := &collectSink{gate: make(chan struct{})}
	p := New(Options{})
	mustAdd(t, p.AddSource("src", &seqSource{n: 1, settle: st}, NodeOptions{}))
	mustAdd(t, p.AddSink("fast", fast, []string{"src"}, NodeOptions{}))
	mustAdd(t, p.AddSink("slow", slow, []string{"src"}, NodeOptions{}))
	done := runAsync(context.Background(), p)

	waitFor(t, "fast branch delivery", func() bool { return len(fast.got()) == 1 })
	time.Sleep(20 * time.Millisecond) // give a wrong early ack the chance to happen
	if st.isAcked(0) {
		t.Fatal("source acked before the slow branch delivered")
	}
	slow.gate <- struct{}{}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if acked, nacked := st.counts(); acked != 1 || nacked != 0 || st.acked[0] != 1 {
		t.Fatalf("acked %d (times %d) nacked %d, want exactly one ack", acked, st.acked[0], nacked)
	}
}

func TestFanOutBranchesGetIndependentCopies(t *testing.T) {
	a, b := &collectSink{}, &collectSink{}
	mutate := procFunc(func(_ context.Context, m *Message, out Emitter) error {
		m.Fields["seq"] = m.Fields["seq"].(int) + 1000
		out.Emit(m)
		return nil
	})
	p := New(Options{})
	mustAdd(t, p.AddSource("src", &seqSource{n: 100}, NodeOptions{}))
	mustAdd(t, p.AddStage("mutate", mutate, []string{"src"}, NodeOptions{}))
	mustAdd(t, p.AddSink("a", a, []string{"mutate"}, NodeOptions{}))
	mustAdd(t, p.AddSink("b", b, []string{"src"}, NodeOptions{}))
	mustAdd(t, p.Run(context.Background()))
	for _, s := range b.got() {
		if s >= 1000 {
			t.Fatalf("branch b saw a change made on branch a: %d", s)
		}
	}
	if len(a.got()) != 100 || a.got()[0] != 1000 {
		t.Fatalf("branch a got %v...", a.got()[:1])
	}
}

func TestSinkFailureNacksSource(t *testing.T) {
	st := newSettlements()
	sink := &collectSink{fail: func(seq int) error {
		if seq%2 == 1 {
			return errBoom
		}
		return nil
	}}
	p := New(Options{})
	mustAdd(t, p.AddSource("src", &seqSource{n: 10, settle: st}, NodeOptions{}))
	mustAdd(t, p.AddSink("out", sink, []string{"src"}, NodeOptions{}))
	mustAdd(t, p.Run(context.Background()))
	acked, nacked := st.counts()
	if acked != 5 || nacked != 5 {
		t.Fatalf("acked %d nacked %d, want 5 and 5", acked, nacked)
	}
	if !errors.Is(st.nack[1], errBoom) {
		t.Fatalf("nack error %v, want boom", st.nack[1])
	}
}

func TestSinkRetriesBeforeNacking(t *testing.T) {
	st := newSettlements()
	var calls atomic.Int32
	sink := &collectSink{fail: func(int) error {
		if calls.Add(1) <= 2 {
			return errBoom
		}
		return nil
	}}
	p := New(Options{})
	mustAdd(t, p.AddSource("src", &seqSource{n: 1, settle: st}, NodeOptions{}))
	mustAdd(t, p.AddSink("out", sink, []string{"src"}, NodeOptions{Retries: 3, RetryBackoff: time.Millisecond}))
	mustAdd(t, p.Run(context.Background()))
	if acked, nacked := st.counts(); acked != 1 || nacked != 0 || calls.Load() != 3 {
		t.Fatalf("acked %d nacked %d after %d calls, want the third call to deliver", acked, nacked, calls.Load())
	}
}

// A sink that keeps failing is called 1 + retry.max times, then the source
// message is nacked with the sink's error.
func TestSinkGivesUpAfterMaxRetries(t *testing.T) {
	st := newSettlements()
	var calls atomic.Int32
	sink := &collectSink{fail: func(int) error {
		calls.Add(1)
		return errBoom
	}}
	p := New(Options{})
	mustAdd(t, p.AddSource("src", &seqSource{n: 1, settle: st}, NodeOptions{}))
	mustAdd(t, p.AddSink("out", sink, []string{"src"}, NodeOptions{Retries: 2, RetryBackoff: time.Millisecond}))
	mustAdd(t, p.Run(context.Background()))
	if acked, nacked := st.counts(); acked != 0 || nacked != 1 || calls.Load() != 3 || !errors.Is(st.nack[0], errBoom) {
		t.Fatalf("acked %d nacked %d (%v) after %d calls, want a nack with boom after 3 calls", acked, nacked, st.nack[0], calls.Load())
	}
}

func TestFilteredMessagesAreAcked(t *testing.T) {
	st := newSettlements()
	evens := procFunc(func(_ context.Context, m *Message, out Emitter) error {
		if m.Fields["seq"].(int)%2 == 0 {
			out.Emit(m)
		}
		return nil
	})
	sink := &collectSink{}
	p := New(Options{})
	mustAdd(t, p.AddSource("src", &seqSource{n: 100, settle: st}, NodeOptions{}))
	mustAdd(t, p.AddStage("evens", evens, []string{"src"}, NodeOptions{}))
	mustAdd(t, p.AddSink("out", sink, []string{"evens"}, NodeOptions{}))
	mustAdd(t, p.Run(context.Background()))
	if acked, nacked := st.counts(); acked != 100 || nacked != 0 {
		t.Fatalf("acked %d nacked %d, want every message acked", acked, nacked)
	}
	if len(sink.got()) != 50 {
		t.Fatalf("sink got %d, want 50", len(sink.got()))
	}
}

// runOddsToDeadLetter runs 20 readings through a stage "check" (with
// checkOpts) that gives each message meta (if not nil) and fails the odd
// ones with errBoom, to a sink and a dead-letter sink.
func runOddsToDeadLetter(t *testing.T, st *settlements, checkOpts NodeOptions, meta map[string]string) (*Pipeline, *collectSink, *deadSink) {
	t.Helper()
	failOdd := procFunc(func(_ context.Context, m *Message, out Emitter) error {
		if meta != nil {
			m.Meta = meta
		}
		if m.Fields["seq"].(int)%2 == 1 {
			return errBoom
		}
		out.Emit(m)
		return nil
	})
	good, dead := &collectSink{}, &deadSink{}
	p := New(Options{})
	mustAdd(t, p.AddSource("src", &seqSource{n: 20, settle: st}, NodeOptions{}))
	mustAdd(t, p.AddStage("check", failOdd, []string{"src"}, checkOpts))
	mustAdd(t, p.AddSink("out", good, []string{"check"}, NodeOptions{}))
	mustAdd(t, p.SetDeadLetter("dlq", dead, NodeOptions{}))
	mustAdd(t, p.Run(context.Background()))
	return p, good, dead
}

func TestStageErrorsGoToDeadLetter(t *testing.T) {
	st := newSettlements()
	p, good, dead := runOddsToDeadLetter(t, st, NodeOptions{}, nil)

	if acked, nacked := st.counts(); acked != 20 || nacked != 0 {
		t.Fatalf("acked %d nacked %d: dead-lettered messages must be acked once the dead letter is delivered", acked, nacked)
	}
	if len(good.got()) != 10 || len(dead.msgs) != 10 {
		t.Fatalf("good %d dead %d, want 10 and 10", len(good.got()), len(dead.msgs))
	}
	for _, m := range dead.msgs {
		if m.Meta[MetaDeadLetterNode] != "check" || m.Meta[MetaDeadLetterError] != "boom" {
			t.Fatalf("dead letter metadata %v", m.Meta)
		}
	}
	if s, _ := p.Stats("check"); s.Errors != 10 {
		t.Fatalf("stage errors %d, want 10", s.Errors)
	}
}

func TestStageErrorWithoutDeadLetterNacks(t *testing.T) {
	st := newSettlements()
	fail := procFunc(func(context.Context, *Message, Emitter) error { return errBoom })
	p := New(Options{})
	mustAdd(t, p.AddSource("src", &seqSource{n: 5, settle: st}, NodeOptions{}))
	mustAdd(t, p.AddStage("fail", fail, []string{"src"}, NodeOptions{}))
	mustAdd(t, p.AddSink("out", &collectSink{}, []string{"fail"}, NodeOptions{}))
	mustAdd(t, p.Run(context.Background()))
	if acked, nacked := st.counts(); acked != 0 || nacked != 5 {
		t.Fatalf("acked %d nacked %d, want 0 and 5", acked, nacked)
	}
	if !strings.Contains(st.nack[0].Error(), "fail: boom") {
		t.Fatalf("nack error %q should name the node", st.nack[0])
	}
}

func TestPanicInStageIsDeadLetteredNotFatal(t *testing.T) {
	st := newSettlements()
	bomb := procFunc(func(_ context.Context, m *Message, out Emitter) error {
		if m.Fields["seq"].(int) == 3 {
			var nilMap map[string]int
			//lint:ignore SA5000 the nil-map write is the point: it panics like a component bug triggered by one input
			nilMap["x"] = 1
		}
		out.Emit(m)
		return nil
	})
	dead := &deadSink{}
	p := New(Options{})
	mustAdd(t, p.AddSource("src", &seqSource{n: 10, settle: st}, NodeOptions{}))
	mustAdd(t, p.AddStage("bomb", bomb, []string{"src"}, NodeOptions{}))
	mustAdd(t, p.AddSink("out", &collectSink{}, []string{"bomb"}, NodeOptions{}))
	mustAdd(t, p.SetDeadLetter("dlq", dead, NodeOptions{}))
	mustAdd(t, p.Run(context.Background()))
	if len(dead.msgs) != 1 || !strings.Contains(dead.msgs[0].Meta[MetaDeadLetterError], "panic") {
		t.Fatalf("dead letters %d, want the one that panicked", len(dead.msgs))
	}
	if acked, _ := st.counts(); acked != 10 {
		t.Fatalf("acked %d, want 10", acked)
	}
}

// deadSink keeps whole messages; it is used from one goroutine only.
type deadSink struct{ msgs []*Message }

func (d *deadSink) Write(_ context.Context, m *Message) error {
	d.msgs = append(d.msgs, m)
	return nil
}
