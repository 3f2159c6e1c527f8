// Package window is the `window` stage: count-based sliding windows of a
// numeric field per key, ready to feed a model.
package window

import (
	"container/list"
	"context"
	"fmt"
	"sync"

	"github.com/edgeflow/edgeflow/component"
	"github.com/edgeflow/edgeflow/pipeline"
)

func init() {
	component.Register(component.Spec{
		Kind:    pipeline.KindStage,
		Name:    "window",
		Summary: "Sliding windows of the last `size` readings of each key, as a float32 vector.",
		Description: `Keeps the last ` + "`size`" + ` values of ` + "`field`" + ` for each key and emits a window every
` + "`step`" + ` readings once it is full. The window message has the key of its readings and the
fields:

- ` + "`<output>`" + ` (default ` + "`window`" + `): the values, oldest first, as ` + "`[]float32`" + ` (a model input);
- ` + "`key`" + `: the key; ` + "`count`" + `: how many values;
- ` + "`start`" + `, ` + "`end`" + `: the source times of the first and last reading.

A reading is acknowledged at its source only once every window that contains it
has been delivered (and it has left the buffer), so a crash never loses a
reading that was waiting in a window. A reading whose field is missing or not
a number goes to the dead-letter sink.

When the input ends, readings that were in no window yet are dropped (and
acknowledged) unless ` + "`emit_partial`" + ` is true. At most ` + "`max_keys`" + ` keys are tracked;
beyond that the key seen least recently is forgotten and its readings are
acknowledged without a window.`,
		Fields: []component.Field{
			{Name: "size", Type: component.Int, Min: component.Bound(1), Max: component.Bound(1 << 20),
				Description: "Number of readings in a window."},
			{Name: "step", Type: component.Int, Default: 1, Min: component.Bound(1),
				Description: "Emit a window every this many readings of a key (1: a sliding window; equal to size: tumbling windows)."},
			{Name: "field", Type: component.String, Default: "value",
				Description: "Numeric field to collect."},
			{Name: "output", Type: component.String, Default: "window",
				Description: "Name of the output field holding the []float32 window."},
			{Name: "max_keys", Type: component.Int, Default: 10000, Min: component.Bound(1),
				Description: "Most keys to keep state for; the least recently seen key is evicted beyond that."},
			{Name: "emit_partial", Type: component.Bool, Default: false,
				Description: "When the input ends, emit a last window for each key with readings that were in no window yet: its last `size` readings, or fewer if it never had `size`."},
		},
		Example: `stages:
  windows:
    type: window
    input: sensors
    size: 64
    step: 16`,
		New: newWindow,
	})
}

// Window is the window stage. It is safe for concurrent use, though windows
// of one key are only meaningful in order (run it with one worker).
type Window struct {
	size, step  int
	field, out  string
	maxKeys     int
	emitPartial bool

	mu   sync.Mutex
	keys map[string]*list.Element // of *series
	lru  list.List                // front: most recently seen
}

// series is the buffer of one key: a ring of its last size readings.
type series struct {
	key    string
	msgs   []*pipeline.Message // retained; ring, oldest at head
	vals   []float32
	head   int
	n      int // readings in the ring
	unsent int // readings added since the last window
}

func newWindow(conf *component.Config, _ *component.Resources) (any, error) {
	w := &Window{
		size: conf.Int("size"), step: conf.Int("step"), field: conf.String("field"),
		out: conf.String("output"), maxKeys: conf.Int("max_keys"), emitPartial: conf.Bool("emit_partial"),
		keys: map[string]*list.Element{},
	}
	if w.out == "key" || w.out == "count" || w.out == "start" || w.out == "end" {
		return nil, conf.Errorf("output", "%q clashes with a field the window sets; choose another name", w.out)
	}
	return w, nil
}

// Process implements pipeline.Processor.
func (w *Window) Process(_ context.Context, m *pipeline.Message, out pipeline.Emitter) error {
	v, err := number(m.Fields[w.field])
	if err != nil {
		return fmt.Errorf("window: field %q: %w", w.field, err)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	s := w.series(m.Key)
	m.Retain()
	if s.n == w.size {
		// Full: the oldest reading leaves. Its windows, if any, were
		// emitted and hold their own references.
		s.msgs[s.head].Release(nil)
		s.msgs[s.head] = m
		s.vals[s.head] = v
		s.head = (s.head + 1) % w.size
	} else {
		i := (s.head + s.n) % w.size
		s.msgs[i], s.vals[i] = m, v
		s.n++
	}
	s.unsent++
	if s.n == w.size && s.unsent >= w.step {
		out.Emit(w.emit(s))
	}
	return nil
}

// series returns the state of key, making room under max_keys.
func (w *Window) series(key string) *series {
	if e, ok := w.keys[key]; ok {
		w.lru.MoveToFront(e)
		return e.Value.(*series)
	}
	if len(w.keys) >= w.maxKeys {
		e := w.lru.Back()
		old := e.Value.(*series)
		old.releaseAll()
		w.lru.Remove(e)
		delete(w.keys, old.key)
	}
	s := &series{key: key, msgs: make([]*pipeline.Message, w.size), vals: make([]float32, w.size)}
	w.keys[key] = w.lru.PushFront(s)
	return s
}

// emit builds the window message of s's current contents.
func (w *Window) emit(s *series) *pipeline.Message {
	parts := make([]*pipeline.Message, s.n)
	vals := make([]float32, s.n)
	for i := range s.n {
		j := (s.head + i) % w.size
		parts[i], vals[i] = s.msgs[j], s.vals[j]
	}
	m := pipeline.Merge(parts...)
	m.Key = s.key
	m.Fields = map[string]any{
		w.out:   vals,
		"key":   s.key,
		"count": s.n,
		"start": parts[0].SourceTime,
		"end":   parts[len(parts)-1].SourceTime,
	}
	s.unsent = 0
	return m
}

func (s *series) releaseAll() {
	for i := range s.n {
		j := (s.head + i) % len(s.msgs)
		s.msgs[j].Release(nil)
		s.msgs[j] = nil
	}
	s.n, s.head, s.unsent = 0, 0, 0
}

// Flush implements pipeline.Flusher: it emits partial windows when asked to
// and lets go of every buffered reading.
func (w *Window) Flush(_ context.Context, out pipeline.Emitter) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	for e := w.lru.Back(); e != nil; e = e.Prev() {
		s := e.Value.(*series)
		if w.emitPartial && s.unsent > 0 && s.n > 0 {
			out.Emit(w.emit(s))
		}
		s.releaseAll()
	}
	clear(w.keys)
	w.lru.Init()
	return nil
}

// number converts a field value to float32.
func number(v any) (float32, error) {
	switch x := v.(type) {
	case float64:
		return float32(x), nil
	case float32:
		return x, nil
	case int:
		return float32(x), nil
	case int64:
		return float32(x), nil
	case int32:
		return float32(x), nil
	case uint64:
		return float32(x), nil
	case uint32:
		return float32(x), nil
	case nil:
		return 0, fmt.Errorf("missing")
	}
	return 0, fmt.Errorf("want a number, got %T %v", v, v)
}
