package componenttest

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"sync"

	"github.com/edgeflow/edgeflow/pipeline"
)

// Payload is the JSON payload of the conformance message with sequence
// number seq: {"seq":seq}. Negative numbers are probes: the suite sends
// them to learn that a source is subscribed, and Gate lets them through
// uncounted.
func Payload(seq int) []byte { return []byte(`{"seq":` + strconv.Itoa(seq) + `}`) }

// SeqOf reads the sequence number of a conformance message from its decoded
// "seq" field.
func SeqOf(m *pipeline.Message) (int, bool) {
	switch v := m.Fields["seq"].(type) {
	case float64:
		return int(v), v == float64(int(v))
	case int:
		return v, true
	case int64:
		return int(v), true
	case json.Number:
		n, err := v.Int64()
		return int(n), err == nil
	}
	return 0, false
}

// SeqOfPayload reads the sequence number from a JSON payload such as
// Payload or the json codec writes: {"seq":N,...}. Sink harnesses use it on
// what their destination received.
func SeqOfPayload(b []byte) (int, bool) {
	var v struct{ Seq *int }
	if err := json.Unmarshal(b, &v); err != nil || v.Seq == nil {
		return 0, false
	}
	return *v.Seq, true
}

// Gate is a sink that records the conformance messages it delivers and can
// hold delivery back. While the gate is shut, Write blocks until it opens,
// or fails with the context's error when the pipeline gives up (aborts).
// Fail, if set, decides per attempt whether a write fails instead.
type Gate struct {
	// Seq reads a message's sequence number (SeqOf when nil).
	Seq func(*pipeline.Message) (int, bool)
	// Fail returns the error that attempt (counted from 1) at writing seq
	// fails with, or nil to deliver it.
	Fail func(seq, attempt int) error

	mu        sync.Mutex
	open      chan struct{} // closed while the gate is open
	isOpen    bool
	held      int         // writes waiting at the gate
	attempts  map[int]int // by seq
	delivered []int       // in delivery order
	probes    int
}

// NewGate returns a gate, open or shut.
func NewGate(open bool) *Gate {
	g := &Gate{open: make(chan struct{}), attempts: map[int]int{}}
	if open {
		g.Open()
	}
	return g
}

// Open lets held and future writes through.
func (g *Gate) Open() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.isOpen {
		close(g.open)
		g.isOpen = true
	}
}

// Write implements pipeline.Sink.
func (g *Gate) Write(ctx context.Context, m *pipeline.Message) error {
	seqOf := g.Seq
	if seqOf == nil {
		seqOf = SeqOf
	}
	seq, ok := seqOf(m)
	if !ok {
		return pipeline.Permanent(fmt.Errorf("not a conformance message: fields %v, payload %q", m.Fields, m.Payload))
	}
	g.mu.Lock()
	if seq < 0 {
		g.probes++
		g.mu.Unlock()
		return nil
	}
	g.attempts[seq]++
	attempt := g.attempts[seq]
	open := g.open
	g.held++
	g.mu.Unlock()
	defer func() {
		g.mu.Lock()
		g.held--
		g.mu.Unlock()
	}()
	if g.Fail != nil {
		if err := g.Fail(seq, attempt); err != nil {
			return err
		}
	}
	select {
	case <-open:
	case <-ctx.Done():
		return ctx.Err()
	}
	g.mu.Lock()
	g.delivered = append(g.delivered, seq)
	g.mu.Unlock()
	return nil
}

// Held is how many writes are waiting at the gate.
func (g *Gate) Held() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.held
}

// Delivered returns the sequence numbers delivered so far, in order.
func (g *Gate) Delivered() []int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return slices.Clone(g.delivered)
}

// Attempts is how often seq was written, failed attempts included.
func (g *Gate) Attempts(seq int) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.attempts[seq]
}

// Probes is how many probes went through.
func (g *Gate) Probes() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.probes
}

// has reports whether every one of seqs has been delivered.
func (g *Gate) has(seqs ...int) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, s := range seqs {
		if !slices.Contains(g.delivered, s) {
			return false
		}
	}
	return true
}
