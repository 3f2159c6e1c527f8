// Package window is the `window` stage: count-based sliding windows of a
// numeric field per key, ready to feed a model.
package window

import (
	"container/list"
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/edgeflow/edgeflow/component"
	"github.com/edgeflow/edgeflow/component/schema"
	"github.com/edgeflow/edgeflow/internal/didyoumean"
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

A reading is acknowledged at its source once the first window that contains it
has been delivered: from then on the window keeps its value, not its
acknowledgement. A crash therefore loses no reading that never reached a
window. Readings that wait for their first window (a key warming up, or between
steps) are held, but at most ` + "`max_held`" + ` of them: when more arrive, the oldest
is acknowledged early, so that a sensor that falls silent never holds back the
acknowledgements of the others. Brokers that acknowledge in order (MQTT) and
bound what they send unacknowledged (Mosquitto's ` + "`max_inflight_messages`" + `,
default 20) need ` + "`max_held`" + ` below that bound.

A reading whose field is missing or not
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
			{Name: "max_held", Type: component.Int, Default: 16, Min: component.Bound(0),
				Description: "Most readings held unacknowledged while they wait for their first window; beyond that the oldest is acknowledged early. Keep it below the source broker's in-flight window. 0 acknowledges readings as they enter the buffer."},
			{Name: "emit_partial", Type: component.Bool, Default: false,
				Description: "When the input ends, emit a last window for each key with readings that were in no window yet: its last `size` readings, or fewer if it never had `size`."},
		},
		Example: `stages:
  windows:
    type: window
    input: sensors
    size: 64
    step: 16`,
		New:    newWindow,
		Schema: windowSchema,
	})
}

// windowSchema checks that the field collected can be a number, and
// returns the fields of a window.
func windowSchema(conf *component.Config, in schema.Schema, res *component.Resources) (schema.Schema, error) {
	field := conf.String("field")
	t, ok := in.Lookup(field)
	switch {
	case !ok && in.Closed:
		return schema.Unknown(), conf.Errorf("field", "no field %q in the input%s (the input has %s)",
			field, didyoumean.Suggest(field, in.Names()), strings.Join(in.Names(), ", "))
	case t != schema.Any && t != schema.Float && t != schema.Int:
		return schema.Unknown(), conf.Errorf("field", "field %q is a %s, not a number", field, t)
	}
	return schema.Schema{Closed: true, From: "made by the window stage " + res.Node, Fields: map[string]schema.Type{
		conf.String("output"): schema.Floats, "key": schema.String, "count": schema.Int,
		"start": schema.Time, "end": schema.Time,
	}}, nil
}

// Window is the window stage. It is safe for concurrent use, though windows
// of one key are only meaningful in order (run it with one worker).
type Window struct {
	size, step  int
	field, out  string
	maxKeys     int
	maxHeld     int
	emitPartial bool

	mu   sync.Mutex
	keys map[string]*list.Element // of *series
	lru  list.List                // front: most recently seen
	// holds lists, in arrival order, the last maxHeld readings that were
	// held; an entry whose reading has since gone out in a window is stale.
	holds []hold
	early atomic.Uint64 // readings acknowledged before their first window
	pool  windowPool
	// settle is pool.settle, bound once: a method value made per window
	// would be an allocation per window.
	settle pipeline.SettleFunc
}

// hold is a reading waiting for its first window.
type hold struct {
	m *pipeline.Message
	s *series
}

// series is the buffer of one key: a ring of its last size values, and the
// readings that are in no window yet.
type series struct {
	key    string
	keyAny any // key, boxed once rather than per window
	vals   []float32
	times  []time.Time
	// boxes holds times[i] boxed as an any, or nil until a window needs
	// it: with step 1 each reading is a window's end once and, size
	// windows later, its start, so boxing it once halves the time boxes.
	boxes  []any
	head   int
	n      int // values in the ring
	unsent int // readings added since the last window
	held   []*pipeline.Message
}

func newWindow(conf *component.Config, _ *component.Resources) (any, error) {
	w := &Window{
		size: conf.Int("size"), step: conf.Int("step"), field: conf.String("field"),
		out: conf.String("output"), maxKeys: conf.Int("max_keys"), maxHeld: conf.Int("max_held"),
		emitPartial: conf.Bool("emit_partial"), keys: map[string]*list.Element{},
	}
	w.settle = w.pool.settle
	if w.out == "key" || w.out == "count" || w.out == "start" || w.out == "end" {
		return nil, conf.Errorf("output", "%q clashes with a field the window sets; choose another name", w.out)
	}
	return w, nil
}

// EarlyAcks reports how many readings were acknowledged before their first
// window because max_held was reached.
func (w *Window) EarlyAcks() uint64 { return w.early.Load() }

// Process implements pipeline.Processor.
func (w *Window) Process(_ context.Context, m *pipeline.Message, out pipeline.Emitter) error {
	v, err := number(m.Fields[w.field])
	if err != nil {
		return fmt.Errorf("window: field %q: %w", w.field, err)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	s := w.series(m.Key)
	i := (s.head + s.n) % w.size
	if s.n == w.size {
		i, s.head = s.head, (s.head+1)%w.size // the oldest value leaves
	} else {
		s.n++
	}
	s.vals[i], s.times[i], s.boxes[i] = v, m.SourceTime, nil
	s.unsent++
	w.hold(s, m)
	if s.n == w.size && s.unsent >= w.step {
		w.emit(s, out)
	}
	return nil
}

// hold keeps m's acknowledgement until its first window, within max_held.
func (w *Window) hold(s *series, m *pipeline.Message) {
	if w.maxHeld == 0 {
		return // the engine acknowledges m when Process returns
	}
	m.Retain()
	s.held = append(s.held, m)
	w.holds = append(w.holds, hold{m, s})
	if len(w.holds) <= w.maxHeld {
		return
	}
	oldest := w.holds[0]
	w.holds[0] = hold{}
	w.holds = w.holds[1:] // append reallocates now and then: amortised O(1)
	// Still waiting? Then it is the oldest reading its series holds.
	if hs := oldest.s.held; len(hs) > 0 && hs[0] == oldest.m {
		hs[0] = nil
		oldest.s.held = hs[1:]
		oldest.m.Release(nil)
		w.early.Add(1)
	}
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
		old.release()
		w.lru.Remove(e)
		delete(w.keys, old.key)
	}
	s := &series{key: key, keyAny: key, vals: make([]float32, w.size), times: make([]time.Time, w.size),
		boxes: make([]any, w.size)}
	w.keys[key] = w.lru.PushFront(s)
	return s
}

// emit sends the window of s's current values. It carries the
// acknowledgements of the readings that are in no earlier window: they
// stay held until the engine settles the window, and are released with
// its outcome (see windowPool).
func (w *Window) emit(s *series, out pipeline.Emitter) {
	last := (s.head + s.n - 1) % w.size
	e := w.pool.get()
	m := &e.msg
	if n := len(s.held); n > 0 {
		m.Topic, m.IngestTime = s.held[n-1].Topic, s.held[n-1].IngestTime
	}
	m.Key = s.key
	m.SourceTime = s.times[last]
	// The ring in at most two pieces, oldest first: two copies, not a
	// division per value. A reused window gets its last values' slice.
	vals := pipeline.SetSlice[float32](m, w.out, s.n)
	if k := copy(vals, s.vals[s.head:s.n]); k < s.n {
		copy(vals[k:], s.vals[:s.head])
	}
	f := m.Fields
	f["key"], f["count"], f["start"], f["end"] = s.keyAny, s.n, s.box(s.head), s.box(last)
	e.parts, s.held = s.held, e.parts[:0]
	m.Track(w.settle, e)
	out.Emit(m)
	m.Release(nil) // the window's own reference; the engine holds the others
	s.unsent = 0
}

// box returns the time of ring slot i as an any, boxing it on first use.
func (s *series) box(i int) any {
	if s.boxes[i] == nil {
		s.boxes[i] = s.times[i]
	}
	return s.boxes[i]
}

// release lets go of the readings s holds: they went out in a window, or
// never will.
func (s *series) release() {
	for _, m := range s.held {
		m.Release(nil)
	}
	clear(s.held)
	s.held = s.held[:0]
}

// Flush implements pipeline.Flusher: it emits partial windows when asked to
// and lets go of every held reading.
func (w *Window) Flush(_ context.Context, out pipeline.Emitter) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	for e := w.lru.Back(); e != nil; e = e.Prev() {
		s := e.Value.(*series)
		if w.emitPartial && s.unsent > 0 && s.n > 0 {
			w.emit(s, out)
		}
		s.release()
	}
	clear(w.keys)
	w.lru.Init()
	w.holds = nil
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
