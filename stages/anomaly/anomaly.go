// Package anomaly is the `anomaly` stage: per-sensor normalisation before an
// autoencoder, and, after it, reconstruction error → calibrated likelihood
// → debounced alerts.
package anomaly

import (
	"container/list"
	"context"
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/edgeflow/edgeflow/anomaly"
	"github.com/edgeflow/edgeflow/component"
	"github.com/edgeflow/edgeflow/pipeline"
)

func init() {
	component.Register(component.Spec{
		Kind:    pipeline.KindStage,
		Schema:  stageSchema,
		Name:    "anomaly",
		Summary: "Per-sensor normalisation for an autoencoder, and reconstruction error → anomaly likelihood → debounced alerts.",
		Description: `Two modes, used on either side of an ` + "`onnx`" + ` stage that runs the autoencoder
(` + "`edgeflow model train anomaly`" + ` makes one):

- **normalize**: learns each sensor's mean and standard deviation from its first
  ` + "`warmup`" + ` windows (which are dropped and acknowledged), then writes the z-scored
  window (clipped to ±` + "`clip`" + `) to ` + "`normalized`" + ` and passes the message on. After the
  warm-up the statistics keep following the sensor (exponentially weighted, ` + "`half_life`" + `
  readings), so a new operating level stops looking like a fault.
- **score** (default): compares ` + "`normalized`" + ` with the model's ` + "`reconstruction`" + ` (mean
  squared error) and turns the error into an anomaly likelihood against the sensor's recent
  error distribution (log errors averaged over ` + "`short`" + ` windows, a normal fit over
  the last ` + "`history`" + `, re-fitted every ` + "`reestimate`" + `; after Numenta's anomaly likelihood).
  The newest reading of ` + "`window`" + ` gets a second likelihood, of its rarity among the
  sensor's past readings (a forgetting histogram of ` + "`bins`" + ` bins over the range of its first
  ` + "`warmup`" + ` readings; a rarity that at least 0.5% of the sensor's own history matched
  scores at most 0.3, so a sensor whose spikes recur is not alarmed by each); the score is the larger of the two on a log scale in [0, 1]
  (0.5 ≈ likelihood 0.99999), only the first of a run above 0.5 keeping its value, and 1
  for a reading beyond the range seen so far by ` + "`spatial`" + ` of its width. An alert is
  raised when the score reaches ` + "`threshold`" + `, then none for ` + "`rest`" + ` windows, so one
  fault raises one alert. When the model that made a sensor's reconstructions changes (its
  ` + "`version`" + ` field rises: the onnx stage's ` + "`learn`" + `), the error likelihood gives nothing for
  ` + "`learn`" + ` windows, while the rarity and range keep scoring, then shifts its history to
  the new model's error level.

In score mode each output message is a new message (it carries the window's
acknowledgement) with fields ` + "`sensor`" + `, ` + "`time`" + ` (RFC 3339: the source time of the window's last reading, or when it was received if the source gives none),
` + "`score`" + `, ` + "`likelihood`" + `, ` + "`error`" + `, ` + "`alert`" + ` (bool), ` + "`ready`" + ` (false while the error
distribution is learned) and the window's ` + "`min`" + `, ` + "`max`" + `, ` + "`mean`" + `, ` + "`last`" + ` (raw units, from
` + "`window`" + `). With ` + "`emit: alerts`" + ` only alerts leave the stage; the other windows are
acknowledged. State is kept for at most ` + "`max_keys`" + ` sensors (least recently seen evicted),
about 70 kB per sensor with the default history.`,
		Fields: []component.Field{
			{Name: "mode", Type: component.String, Default: "score", Enum: []string{"normalize", "score"},
				Description: "normalize before the model, score after it."},
			{Name: "window", Type: component.String, Default: "window",
				Description: "Field with the raw window ([]float32): normalised in normalize mode, summarised in alerts in score mode."},
			{Name: "normalized", Type: component.String, Default: "window_norm",
				Description: "Field of the normalised window: written in normalize mode, compared with the reconstruction in score mode."},
			{Name: "reconstruction", Type: component.String, Default: "reconstruction",
				Description: "Field with the model's reconstruction (score mode)."},
			{Name: "warmup", Type: component.Int, Default: 50, Min: component.Bound(1),
				Description: "normalize: windows per sensor to learn its mean and deviation from. score: readings that fix the rarity histogram's bins."},
			{Name: "half_life", Type: component.Int, Default: 500, Min: component.Bound(0),
				Description: "normalize: readings after the warm-up that halve the weight of older ones in the mean and deviation (0 freezes them after the warm-up)."},
			{Name: "clip", Type: component.Float, Default: anomaly.DefaultClip, Min: component.Bound(0.1),
				Description: "normalize: bound of the z-scores."},
			{Name: "threshold", Type: component.Float, Default: DefaultThreshold, Min: component.Bound(0), Max: component.Bound(1),
				Description: "Score at which an alert is raised (chosen once by a NAB threshold sweep, see docs/anomaly.md)."},
			{Name: "rest", Type: component.Int, Default: anomaly.DefaultRest, Min: component.Bound(1),
				Description: "Windows after an alert during which a sensor raises no other."},
			{Name: "learn", Type: component.Int, Default: 100, Min: component.Bound(1),
				Description: "Windows of error history before likelihoods (and alerts) are given."},
			{Name: "short", Type: component.Int, Default: 20, Min: component.Bound(1),
				Description: "Errors (and rarities) averaged before they are judged."},
			{Name: "history", Type: component.Int, Default: 8640, Min: component.Bound(10), Max: component.Bound(1 << 20),
				Description: "Averaged errors (and rarities) the distributions are fitted to (memory per sensor: 8 bytes each)."},
			{Name: "reestimate", Type: component.Int, Default: 100, Min: component.Bound(1),
				Description: "Windows between re-fits of the error distribution."},
			{Name: "one_sided", Type: component.Bool, Default: false,
				Description: "Only unusually large errors are anomalous (by default unusually small ones, a stuck or flat sensor, are too)."},
			{Name: "spatial", Type: component.Float, Default: 0.25, Min: component.Bound(-1), Max: component.Bound(10),
				Description: "A reading beyond the range seen so far by this fraction of its width scores 1 (0 or negative: off)."},
			{Name: "bins", Type: component.Int, Default: 32, Min: component.Bound(-1),
				Description: "Bins of the rarity histogram over the warm-up range (-1 leaves the rarity out)."},
			{Name: "rarity_half_life", Type: component.Int, Default: 2000, Min: component.Bound(1),
				Description: "Readings that halve the rarity histogram's counts."},
			{Name: "rarity_tail", Type: component.Float, Default: anomaly.DefaultRarityTail, Min: component.Bound(0),
				Description: "score: the rarity likelihood's tail probability is at least this times the share of the sensor's own history that was as rare, so a rarity the sensor keeps showing is no alarm (0 turns it off; docs/anomaly.md)."},
			{Name: "emit", Type: component.String, Default: "alerts", Enum: []string{"alerts", "all"},
				Description: "score: emit only alerts, or a score for every window."},
			{Name: "version", Type: component.String, Default: "learn_version",
				Description: "score: field with the version of the model that made the reconstruction (the onnx stage's `learn`); when a sensor's version rises, its error likelihood is re-based on the new model's errors (empty: ignored)."},
			{Name: "max_keys", Type: component.Int, Default: 10000, Min: component.Bound(1),
				Description: "Most sensors to keep state for."},
		},
		Example: `stages:
  norm:
    type: anomaly
    input: windows
    mode: normalize
    warmup: 50
  model:
    type: onnx
    input: norm
    model: models/anomaly.onnx
    inputs: {window: window_norm}
    outputs: {reconstruction: reconstruction}
    batch: {max_size: 64, max_delay: 2ms}
  detect:
    type: anomaly
    input: model
    threshold: 0.3`,
		New: newStage,
	})
}

// DefaultThreshold is the stage's default alert threshold
// (anomaly.DefaultThreshold).
const DefaultThreshold = anomaly.DefaultThreshold

// ScoreConfig reads the scorer settings of an anomaly stage's configuration
// (score mode), so that an evaluation can run the very same scorer.
func ScoreConfig(conf *component.Config) anomaly.ScoreConfig {
	spatial := conf.Float("spatial")
	if spatial == 0 {
		spatial = -1 // 0 would mean the default
	}
	rarityTail := conf.Float("rarity_tail")
	if rarityTail == 0 {
		rarityTail = -1 // 0 would mean the default
	}
	return anomaly.ScoreConfig{
		Likelihood: anomaly.LikelihoodConfig{Short: conf.Int("short"), History: conf.Int("history"),
			Reestimate: conf.Int("reestimate"), Learn: conf.Int("learn"), OneSided: conf.Bool("one_sided")},
		Alert:      anomaly.AlertConfig{Threshold: conf.Float("threshold"), Rest: conf.Int("rest")},
		Spatial:    spatial,
		Bins:       conf.Int("bins"),
		Warmup:     conf.Int("warmup"),
		HalfLife:   conf.Int("rarity_half_life"),
		RarityTail: rarityTail,
	}
}

// Stage is the anomaly stage. It is safe for concurrent use; per-sensor
// state only makes sense in order, so run it with one worker.
type Stage struct {
	normalize           bool
	window, norm, recon string
	warmup, halfLife    int
	clip                float64
	cfg                 anomaly.ScoreConfig
	emitAll             bool
	maxKeys             int
	version             string

	mu   sync.Mutex
	keys map[string]*list.Element // of *sensor
	lru  list.List                // front: most recently seen
	live map[string]*liveScore    // scores since the dashboard's last take
}

// sensor is the state of one key.
type sensor struct {
	key     string
	z       anomaly.Normalizer
	windows int
	scorer  *anomaly.Scorer
	version int64 // of the model whose errors the scorer has learned
}

func newStage(conf *component.Config, _ *component.Resources) (any, error) {
	s := &Stage{
		normalize: conf.String("mode") == "normalize",
		window:    conf.String("window"), norm: conf.String("normalized"), recon: conf.String("reconstruction"),
		warmup: conf.Int("warmup"), halfLife: conf.Int("half_life"), clip: conf.Float("clip"),
		cfg:     ScoreConfig(conf),
		emitAll: conf.String("emit") == "all",
		maxKeys: conf.Int("max_keys"),
		version: conf.String("version"),
		keys:    map[string]*list.Element{},
	}
	if s.cfg.Alert.Threshold == 0 {
		return nil, conf.Errorf("threshold", "must be above 0, or every window would alert")
	}
	for _, f := range []string{"window", "normalized", "reconstruction"} {
		if conf.String(f) == "" {
			return nil, conf.Errorf(f, "must not be empty")
		}
	}
	if s.normalize && s.window == s.norm {
		return nil, conf.Errorf("normalized", "must differ from `window`: the raw window is kept for the alert summary")
	}
	return s, nil
}

// Process implements pipeline.Processor.
func (s *Stage) Process(_ context.Context, m *pipeline.Message, out pipeline.Emitter) error {
	if s.normalize {
		return s.normalizeWindow(m, out)
	}
	return s.score(m, out)
}

func (s *Stage) normalizeWindow(m *pipeline.Message, out pipeline.Emitter) error {
	raw, err := floats(m.Fields[s.window])
	if err != nil {
		return fmt.Errorf("anomaly: field %q: %w", s.window, err)
	}
	s.mu.Lock()
	st := s.sensor(m.Key)
	if !st.z.Frozen() {
		// The first window brings all its readings, each later one (of a
		// sliding window) its newest.
		if st.windows == 0 {
			for _, v := range raw {
				st.z.Observe(float64(v))
			}
		} else {
			st.z.Observe(float64(raw[len(raw)-1]))
		}
		st.windows++
		if st.windows < s.warmup {
			s.mu.Unlock()
			return nil // learning: the window is acknowledged, not scored
		}
		st.z.Clip, st.z.HalfLife = s.clip, s.halfLife
		st.z.Freeze()
		st.z.Apply(pipeline.SetSlice[float32](m, s.norm, len(raw)), raw)
		s.mu.Unlock()
		out.Emit(m)
		return nil
	}
	// Judge the window, then let its newest reading move the statistics.
	// A reused window gets its last normalised values' slice back.
	st.z.Apply(pipeline.SetSlice[float32](m, s.norm, len(raw)), raw)
	st.z.Observe(float64(raw[len(raw)-1]))
	s.mu.Unlock()
	out.Emit(m)
	return nil
}

func (s *Stage) score(m *pipeline.Message, out pipeline.Emitter) error {
	x, err := floats(m.Fields[s.norm])
	if err != nil {
		return fmt.Errorf("anomaly: field %q: %w", s.norm, err)
	}
	y, err := floats(m.Fields[s.recon])
	if err != nil {
		return fmt.Errorf("anomaly: field %q: %w", s.recon, err)
	}
	if len(x) != len(y) {
		return fmt.Errorf("anomaly: %q has %d values but %q has %d", s.norm, len(x), s.recon, len(y))
	}
	raw, rawErr := floats(m.Fields[s.window])
	last := math.NaN()
	if rawErr == nil {
		last = float64(raw[len(raw)-1])
	}
	s.mu.Lock()
	st := s.sensor(m.Key)
	// A newer model's errors have a level of their own: judged against the
	// old model's, they would read as an anomaly. Only a rise counts, as
	// windows scored by an older version may still arrive from other
	// workers of the model stage.
	if v, ok := version(m.Fields[s.version]); ok && s.version != "" && v > st.version {
		st.version = v
		st.scorer.ModelChanged()
	}
	sc := st.scorer.Update(anomaly.MSE(x, y), last)
	if sc.Ready {
		s.noteScore(m.Key, sc.Score, sc.Alert)
	}
	s.mu.Unlock()
	if !sc.Alert && !s.emitAll {
		return nil
	}
	a := m.Derive()
	// A source that does not know when a reading was taken (MQTT has no
	// timestamp of its own) leaves SourceTime zero: the alert then carries
	// when edgeflow received the window's last reading.
	at := m.SourceTime
	if at.IsZero() {
		at = m.IngestTime
	}
	a.Fields = map[string]any{
		"sensor": m.Key, "time": at.UTC().Format(time.RFC3339Nano),
		"score": sc.Score, "likelihood": sc.Likelihood, "error": sc.Error,
		"alert": sc.Alert, "ready": sc.Ready,
	}
	if rawErr == nil {
		lo, hi, sum := math.Inf(1), math.Inf(-1), 0.0
		for _, v := range raw {
			f := float64(v)
			lo, hi, sum = min(lo, f), max(hi, f), sum+f
		}
		a.Fields["min"], a.Fields["max"] = lo, hi
		a.Fields["mean"], a.Fields["last"] = sum/float64(len(raw)), float64(raw[len(raw)-1])
	}
	out.Emit(a)
	return nil
}

// sensor returns the state of key, evicting the least recently seen sensor
// beyond max_keys. The caller holds s.mu.
func (s *Stage) sensor(key string) *sensor {
	if e, ok := s.keys[key]; ok {
		s.lru.MoveToFront(e)
		return e.Value.(*sensor)
	}
	if len(s.keys) >= s.maxKeys {
		e := s.lru.Back()
		s.lru.Remove(e)
		delete(s.keys, e.Value.(*sensor).key)
	}
	st := &sensor{key: key}
	if !s.normalize {
		st.scorer = anomaly.NewScorer(s.cfg)
	}
	s.keys[key] = s.lru.PushFront(st)
	return st
}

// Keys reports how many sensors the stage holds state for.
func (s *Stage) Keys() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.keys)
}

// version reads a model version: an int from the onnx stage, a number from
// JSON.
func version(v any) (int64, bool) {
	switch x := v.(type) {
	case int:
		return int64(x), true
	case int64:
		return x, true
	case float64:
		return int64(x), x == math.Trunc(x)
	}
	return 0, false
}

// floats reads a vector field: []float32 (from window and onnx), []float64
// or a list of numbers (from JSON).
func floats(v any) ([]float32, error) {
	switch x := v.(type) {
	case []float32:
		if len(x) == 0 {
			return nil, fmt.Errorf("empty")
		}
		return x, nil
	case []float64:
		out := make([]float32, len(x))
		for i, f := range x {
			out[i] = float32(f)
		}
		return out, floats32ok(out)
	case []any:
		out := make([]float32, len(x))
		for i, e := range x {
			f, ok := e.(float64)
			if !ok {
				return nil, fmt.Errorf("element %d is %T, not a number", i, e)
			}
			out[i] = float32(f)
		}
		return out, floats32ok(out)
	case nil:
		return nil, fmt.Errorf("missing")
	}
	return nil, fmt.Errorf("want a list of numbers, got %T", v)
}

func floats32ok(x []float32) error {
	if len(x) == 0 {
		return fmt.Errorf("empty")
	}
	return nil
}
