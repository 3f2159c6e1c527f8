package pipeline

import (
	"sync"
	"time"
)

// NodeInfo describes one node of a pipeline's graph, for drawing it.
type NodeInfo struct {
	Name string
	Kind Kind
	// Inputs are the nodes that feed this one.
	Inputs []string
	// DeadLetter is true for the dead-letter sink.
	DeadLetter bool
	// Overflow and Buffer describe the node's input queue (Buffer is the
	// effective capacity; 0 for sources).
	Overflow Overflow
	Buffer   int
}

// Nodes describes the graph's nodes in the order they were added.
func (p *Pipeline) Nodes() []NodeInfo {
	out := make([]NodeInfo, 0, len(p.order))
	for _, n := range p.order {
		info := NodeInfo{Name: n.name, Kind: n.kind, Inputs: append([]string(nil), n.inputs...),
			DeadLetter: n == p.deadLetter, Overflow: n.opts.Overflow}
		if n.kind != KindSource {
			info.Buffer = n.opts.Buffer
			if info.Buffer <= 0 {
				info.Buffer = p.opts.Buffer
			}
		}
		out = append(out, info)
	}
	return out
}

// DeadLetter is a record of one message handed to the dead-letter sink (or
// nacked for want of one).
type DeadLetter struct {
	Time  time.Time
	Node  string
	Error string
}

// recentDeadLetters is how many dead-letter records a pipeline keeps.
const recentDeadLetters = 20

// deadLetters keeps the latest failures for the dashboard. It is only
// touched on the failure path, so a mutex costs the hot path nothing.
type deadLetters struct {
	mu    sync.Mutex
	total uint64
	ring  [recentDeadLetters]DeadLetter
	next  int
}

func (d *deadLetters) add(node string, err error) {
	rec := DeadLetter{Time: time.Now(), Node: node, Error: err.Error()}
	d.mu.Lock()
	d.total++
	d.ring[d.next] = rec
	d.next = (d.next + 1) % recentDeadLetters
	d.mu.Unlock()
}

// DeadLetters returns how many messages failed in the pipeline's nodes
// (dead-lettered, or nacked when there is no dead-letter sink) and the
// latest of them, newest first.
func (p *Pipeline) DeadLetters() (total uint64, recent []DeadLetter) {
	d := &p.failures
	d.mu.Lock()
	defer d.mu.Unlock()
	for i := 1; i <= recentDeadLetters; i++ {
		rec := d.ring[(d.next-i+recentDeadLetters)%recentDeadLetters]
		if rec.Time.IsZero() {
			break
		}
		recent = append(recent, rec)
	}
	return d.total, recent
}

// Retain asks the pipeline not to close the named nodes' components when it
// stops, because a successor pipeline will use them (a hot reload keeping a
// loaded model). It may be called while the pipeline runs.
func (p *Pipeline) Retain(names ...string) {
	p.retainMu.Lock()
	defer p.retainMu.Unlock()
	if p.retained == nil {
		p.retained = map[string]bool{}
	}
	for _, n := range names {
		p.retained[n] = true
	}
}

func (p *Pipeline) isRetained(name string) bool {
	p.retainMu.Lock()
	defer p.retainMu.Unlock()
	return p.retained[name]
}

// Name returns the pipeline's name (Options.Name).
func (p *Pipeline) Name() string { return p.opts.Name }
