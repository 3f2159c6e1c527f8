// Package generate is the `generate` source: synthetic sensor readings with
// labelled anomalies, for demos, tests and benchmarks.
package generate

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/edgeflow/edgeflow/component"
	"github.com/edgeflow/edgeflow/component/schema"
	"github.com/edgeflow/edgeflow/pipeline"
)

func init() {
	component.Register(component.Spec{
		Kind:    pipeline.KindSource,
		Name:    "generate",
		Summary: "Synthetic sensor readings (sine, noise, steps) with labelled, injectable anomalies.",
		Description: `Emits readings for one or more simulated sensors, round-robin across the keys.
Each message follows the sensor-reading convention: ` + "`key`" + ` is the sensor id,
` + "`value`" + ` the reading (a float), ` + "`sensor`" + ` the sensor id again (so expressions
can see it), ` + "`anomaly`" + ` a bool that is true for readings inside an injected
anomaly, and the source time is when the reading was generated.

The signal of each key is ` + "`offset + waveform + noise·N(0,1)`" + `; with a sine each key
gets its own phase. Anomalies start at random (` + "`anomalies.probability`" + ` per reading)
or on a schedule (` + "`anomalies.every`" + ` readings of a key) and are one of:

- **spike**: a single reading of ` + "`offset ± magnitude`" + `;
- **shift**: the level moves by ` + "`± magnitude`" + ` for ` + "`duration`" + ` readings;
- **stuck**: the sensor repeats its last reading for ` + "`duration`" + ` readings.

Everything random is drawn from generators seeded with ` + "`seed`" + ` and the key's
index, so the same config always yields the same values and labels. The source
is cheap enough for engine benchmarks: a message and its map are reused once the
pipeline has settled it, so a reading costs one small allocation.`,
		Fields: []component.Field{
			{Name: "keys", Type: component.Any, Default: 1,
				Description: "How many sensors (named `<prefix>0`, `<prefix>1`, …), or a list of sensor ids.",
				Example:     "[boiler-1, boiler-2]"},
			{Name: "key_prefix", Type: component.String, Default: "sensor-",
				Description: "Prefix of the generated sensor ids when `keys` is a count."},
			{Name: "rate", Type: component.Float, Default: 10.0, Min: component.Bound(0),
				Description: "Messages per second (per key or in total, see `rate_per`); 0 emits as fast as the pipeline takes them."},
			{Name: "rate_per", Type: component.String, Default: "key", Enum: []string{"key", "total"},
				Description: "Whether `rate` is per key or for all keys together."},
			{Name: "count", Type: component.Int, Default: 0, Min: component.Bound(0),
				Description: "Total number of messages over all keys, after which the source ends; 0 runs until the pipeline stops."},
			{Name: "waveform", Type: component.String, Default: "sine", Enum: []string{"sine", "noise", "steps"},
				Description: "Shape of the clean signal: `sine`; `noise` (Gaussian with standard deviation `amplitude`); `steps` (a new random level in ±amplitude every `period` readings)."},
			{Name: "amplitude", Type: component.Float, Default: 1.0, Min: component.Bound(0),
				Description: "Amplitude of the waveform."},
			{Name: "period", Type: component.Int, Default: 100, Min: component.Bound(1),
				Description: "Period of the sine, or length of a step, in readings of one key."},
			{Name: "offset", Type: component.Float, Default: 0.0,
				Description: "Constant added to every reading (the sensor's normal level)."},
			{Name: "noise", Type: component.Float, Default: 0.0, Min: component.Bound(0),
				Description: "Standard deviation of Gaussian noise added to every reading."},
			{Name: "seed", Type: component.Int, Default: 1,
				Description: "Seed of the random generators; the same seed gives the same readings."},
			{Name: "start_time", Type: component.String, Optional: true, Example: "2024-01-01T00:00:00Z",
				Description: "If set (RFC 3339), source times are synthetic: they start here and advance by one reading interval per reading of a key (1/rate, or 1s when rate is 0), independent of the wall clock. Otherwise they are the wall-clock time of each reading."},
			{Name: "anomalies", Type: component.Object, Optional: true,
				Description: "Anomalies to inject; readings inside one are labelled `anomaly: true`.",
				Fields: []component.Field{
					{Name: "probability", Type: component.Float, Default: 0.0, Min: component.Bound(0), Max: component.Bound(1),
						Description: "Chance that an anomaly starts at any reading (of a key not already in one)."},
					{Name: "every", Type: component.Int, Default: 0, Min: component.Bound(0),
						Description: "Start an anomaly every this many readings of each key (0: no schedule)."},
					{Name: "kinds", Type: component.StringList, Default: []string{"spike", "shift", "stuck"},
						Description: "Kinds to choose from at random: spike, shift, stuck."},
					{Name: "magnitude", Type: component.Float, Default: 0.0, Min: component.Bound(0),
						Description: "Size of spikes and shifts; 0 means 5 × max(amplitude, noise)."},
					{Name: "duration", Type: component.Int, Default: 20, Min: component.Bound(1),
						Description: "Length of shifts and stuck periods, in readings of one key."},
				}},
		},
		Example: `sources:
  sensors:
    type: generate
    keys: 4
    rate: 100
    waveform: sine
    amplitude: 2
    offset: 20
    noise: 0.1
    anomalies:
      probability: 0.002
      kinds: [spike, shift]`,
		New: newGenerator,
		Schema: func(*component.Config, schema.Schema, *component.Resources) (schema.Schema, error) {
			return schema.Schema{Closed: true, From: "from the generate source", Fields: map[string]schema.Type{
				"sensor": schema.String, "value": schema.Float, "anomaly": schema.Bool}}, nil
		},
	})
}

type anomalyKind uint8

const (
	none anomalyKind = iota
	spike
	shift
	stuck
)

var kindNames = map[string]anomalyKind{"spike": spike, "shift": shift, "stuck": stuck}

// config is the parsed configuration, kept apart from the component so that
// Run can build fresh per-key state each time.
type config struct {
	keys              []string
	interval          time.Duration // between two messages overall; 0 = unpaced
	keyInterval       time.Duration // between two readings of one key, for synthetic times
	count             int
	waveform          string
	amplitude, offset float64
	noise             float64
	period            int
	seed              uint64
	start             time.Time // zero: wall clock
	prob              float64
	every             int
	kinds             []anomalyKind
	magnitude         float64
	duration          int
}

// Generator is the generate source.
type Generator struct{ cfg config }

func newGenerator(conf *component.Config, _ *component.Resources) (any, error) {
	c := config{
		count: conf.Int("count"), waveform: conf.String("waveform"),
		amplitude: conf.Float("amplitude"), offset: conf.Float("offset"),
		noise: conf.Float("noise"), period: conf.Int("period"), seed: uint64(conf.Int("seed")),
	}
	switch k := conf.Any("keys").(type) {
	case int:
		if k < 1 || k > 1_000_000 {
			return nil, conf.Errorf("keys", "want between 1 and 1000000 keys, got %d", k)
		}
		prefix := conf.String("key_prefix")
		for i := range k {
			c.keys = append(c.keys, prefix+strconv.Itoa(i))
		}
	case []any:
		seen := map[string]bool{}
		for _, v := range k {
			s, ok := v.(string)
			if !ok {
				s = fmt.Sprint(v)
			}
			if s == "" || seen[s] {
				return nil, conf.Errorf("keys", "sensor ids must be non-empty and unique (%q)", s)
			}
			seen[s] = true
			c.keys = append(c.keys, s)
		}
		if len(c.keys) == 0 {
			return nil, conf.Errorf("keys", "empty list of sensor ids")
		}
	default:
		return nil, conf.Errorf("keys", "want a count or a list of sensor ids, got %v", k)
	}
	if rate := conf.Float("rate"); rate > 0 {
		total := rate
		if conf.String("rate_per") == "key" {
			total *= float64(len(c.keys))
		}
		c.interval = time.Duration(float64(time.Second) / total)
		c.keyInterval = c.interval * time.Duration(len(c.keys))
		if c.interval <= 0 {
			return nil, conf.Errorf("rate", "rate %g is too high to pace; use 0 for as fast as possible", rate)
		}
	} else {
		c.keyInterval = time.Second
	}
	if conf.Has("start_time") {
		t, err := time.Parse(time.RFC3339Nano, conf.String("start_time"))
		if err != nil {
			return nil, conf.Errorf("start_time", "want an RFC 3339 time such as 2024-01-01T00:00:00Z: %v", err)
		}
		c.start = t
	}
	c.magnitude = 5 * max(c.amplitude, c.noise)
	if c.magnitude == 0 {
		c.magnitude = 5
	}
	if a := conf.Object("anomalies"); a != nil {
		c.prob, c.every, c.duration = a.Float("probability"), a.Int("every"), a.Int("duration")
		if m := a.Float("magnitude"); m > 0 {
			c.magnitude = m
		}
		for _, name := range a.StringList("kinds") {
			k, ok := kindNames[name]
			if !ok {
				return nil, a.Errorf("kinds", "unknown anomaly kind %q (want spike, shift or stuck)", name)
			}
			c.kinds = append(c.kinds, k)
		}
		if len(c.kinds) == 0 && (c.prob > 0 || c.every > 0) {
			return nil, a.Errorf("kinds", "no anomaly kinds to inject")
		}
	}
	return &Generator{cfg: c}, nil
}

// Run emits readings until count is reached or ctx is done.
func (g *Generator) Run(ctx context.Context, out pipeline.SourceOutput) error {
	c := &g.cfg
	keys := make([]keyState, len(c.keys))
	for i := range keys {
		keys[i].init(c, i)
	}
	done := ctx.Done()
	began := time.Now()
	var pool readingPool
	settle := pool.settle // one closure per run, not per message
	for i := 0; c.count == 0 || i < c.count; i++ {
		select {
		case <-done:
			return nil
		default:
		}
		now := time.Now()
		if c.interval > 0 {
			// Pace against the start, not the previous message, so that
			// rounding and scheduling delays do not accumulate.
			due := began.Add(time.Duration(i) * c.interval)
			if wait := due.Sub(now); wait > 200*time.Microsecond {
				if !sleep(ctx, wait) {
					return nil
				}
				now = time.Now()
			}
		}
		k := &keys[i%len(keys)]
		value, anomalous := k.next(c)
		r := pool.get()
		m := &r.msg
		m.Key, m.IngestTime, m.SourceTime = k.id, now, now
		if !c.start.IsZero() {
			m.SourceTime = c.start.Add(time.Duration(k.n-1) * c.keyInterval)
		}
		r.fields["sensor"], r.fields["value"], r.fields["anomaly"] = k.idAny, value, anomalous
		m.Fields = r.fields
		m.Track(settle, r)
		if err := out.Emit(m); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("generate: %w", err)
		}
	}
	return nil
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
