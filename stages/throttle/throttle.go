// Package throttle is the `throttle` stage: it limits how many messages pass
// per interval, overall or per key, by waiting or by dropping the excess.
package throttle

import (
	"container/list"
	"context"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/edgeflow/edgeflow/component"
	"github.com/edgeflow/edgeflow/pipeline"
	"github.com/rs/zerolog"
	"golang.org/x/time/rate"
)

func init() {
	component.Register(component.Spec{
		Kind:    pipeline.KindStage,
		Name:    "throttle",
		Summary: "Limit the message rate to `rate` per `interval`, overall or per key, by waiting or dropping.",
		Description: `A token bucket that lets ` + "`rate`" + ` messages through per ` + "`interval`" + `, with bursts of up to
` + "`burst`" + ` (default: ` + "`rate`" + `).

- ` + "`mode: delay`" + ` (the default) waits for a token, so the stage slows down and
  backpressure reaches the source: nothing is lost. With ` + "`per_key`" + `, a key over its
  limit holds up the messages behind it, whatever their key.
- ` + "`mode: drop`" + ` lets excess messages go: they are acknowledged at the source, as
  a filter would, and counted (the stage's received minus emitted counters, and a
  log line when the pipeline stops).

With ` + "`per_key`" + ` each key has its own bucket; at most ` + "`max_keys`" + ` buckets are kept, the
least recently used being forgotten.`,
		Fields: []component.Field{
			{Name: "rate", Type: component.Int, Min: component.Bound(1),
				Description: "Messages allowed per interval."},
			{Name: "interval", Type: component.Duration, Default: "1s",
				Description: "The interval `rate` refers to."},
			{Name: "burst", Type: component.Int, Default: 0, Min: component.Bound(0),
				Description: "Largest burst let through at once; 0 means `rate`."},
			{Name: "per_key", Type: component.Bool, Default: false,
				Description: "Limit each key separately."},
			{Name: "mode", Type: component.String, Default: "delay", Enum: []string{"delay", "drop"},
				Description: "`delay` waits (backpressure); `drop` discards messages over the limit."},
			{Name: "max_keys", Type: component.Int, Default: 10000, Min: component.Bound(1),
				Description: "Most per-key buckets kept with `per_key`."},
		},
		Example: `stages:
  one_per_second:
    type: throttle
    input: alerts
    rate: 1
    interval: 1s
    per_key: true
    mode: drop`,
		New:    newThrottle,
		Schema: component.Passthrough,
	})
}

// Throttle is the throttle stage. It is safe for concurrent use.
type Throttle struct {
	limit   rate.Limit
	burst   int
	perKey  bool
	drop    bool
	maxKeys int
	log     zerolog.Logger

	global  *rate.Limiter
	mu      sync.Mutex
	keys    map[string]*list.Element // of *keyed
	lru     list.List
	dropped atomic.Uint64
}

type keyed struct {
	key string
	lim *rate.Limiter
}

func newThrottle(conf *component.Config, res *component.Resources) (any, error) {
	interval := conf.Duration("interval")
	if interval <= 0 {
		return nil, conf.Errorf("interval", "must be positive")
	}
	t := &Throttle{
		limit: rate.Limit(float64(conf.Int("rate")) / interval.Seconds()),
		burst: conf.Int("burst"), perKey: conf.Bool("per_key"), drop: conf.String("mode") == "drop",
		maxKeys: conf.Int("max_keys"), log: res.Logger, keys: map[string]*list.Element{},
	}
	if t.burst == 0 {
		t.burst = conf.Int("rate")
	}
	t.global = rate.NewLimiter(t.limit, t.burst)
	return t, nil
}

func (t *Throttle) limiter(key string) *rate.Limiter {
	if !t.perKey {
		return t.global
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if e, ok := t.keys[key]; ok {
		t.lru.MoveToFront(e)
		return e.Value.(*keyed).lim
	}
	if len(t.keys) >= t.maxKeys {
		e := t.lru.Back()
		t.lru.Remove(e)
		delete(t.keys, e.Value.(*keyed).key)
	}
	k := &keyed{key: key, lim: rate.NewLimiter(t.limit, t.burst)}
	t.keys[key] = t.lru.PushFront(k)
	return k.lim
}

// Process implements pipeline.Processor.
func (t *Throttle) Process(ctx context.Context, m *pipeline.Message, out pipeline.Emitter) error {
	lim := t.limiter(m.Key)
	if t.drop {
		if !lim.Allow() {
			t.dropped.Add(1)
			return nil
		}
	} else if err := lim.Wait(ctx); err != nil {
		return fmt.Errorf("throttle: %w", err)
	}
	out.Emit(m)
	return nil
}

// Dropped returns how many messages drop mode has discarded.
func (t *Throttle) Dropped() uint64 { return t.dropped.Load() }

// Close implements pipeline.Closer: it reports what was dropped.
func (t *Throttle) Close(context.Context) error {
	if n := t.dropped.Load(); n > 0 {
		t.log.Info().Uint64("dropped", n).Msg("throttle dropped messages over the limit")
	}
	return nil
}
