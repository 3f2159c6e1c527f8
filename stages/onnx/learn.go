package onnx

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/edgeflow/edgeflow/anomaly"
	"github.com/edgeflow/edgeflow/component"
	"github.com/edgeflow/edgeflow/models"
	"github.com/edgeflow/edgeflow/pipeline"
)

// learnField configures on-device learning of an autoencoder, per key.
var learnField = component.Field{Name: "learn", Type: component.Object, Optional: true,
	Description: "Keep learning an autoencoder (one input, reconstructed as its one output, as `edgeflow model train anomaly` makes) from each key's own stream: every `every` windows a key gets its own copy of the model fine-tuned on its recent normal-looking windows, re-quantised (an int8 model) with calibration from them, and swapped into that key's session with no gap in scoring. `every: 0` turns it off.",
	Fields: []component.Field{
		{Name: "every", Type: component.Int, Default: 1000, Min: component.Bound(0),
			Description: "Windows of a key between two updates of its model (0: no learning)."},
		{Name: "steps", Type: component.Int, Default: 20, Min: component.Bound(1),
			Description: "Adam steps per update."},
		{Name: "batch", Type: component.Int, Default: 32, Min: component.Bound(1),
			Description: "Windows per step."},
		{Name: "rate", Type: component.Float, Default: 0.001, Min: component.Bound(0),
			Description: "Adam's learning rate."},
		{Name: "keep", Type: component.Int, Default: 1000, Min: component.Bound(16),
			Description: "Recent windows kept per key to learn from and calibrate on (64 bytes each for windows of 16)."},
		{Name: "normal", Type: component.Float, Default: 0.9, Min: component.Bound(0.05), Max: component.Bound(1),
			Description: "Learn only from kept windows whose reconstruction error is at or below this quantile of theirs: the worst reconstructed may be the anomalies."},
		{Name: "budget", Type: component.Float, Default: 0.05, Min: component.Bound(0.001), Max: component.Bound(1),
			Description: "Share of one core the updates may take on average: after an update that took d, the trainer rests d·(1/budget − 1). An update costs ~30 ms of CPU (docs/anomaly.md), so 0.05 allows about 2 a second."},
		{Name: "calibrate", Type: component.Int, Default: 256, Min: component.Bound(16),
			Description: "Recent normal-looking windows the int8 re-quantisation is calibrated on."},
		{Name: "max_keys", Type: component.Int, Default: 100, Min: component.Bound(1),
			Description: "Keys that get a model of their own (an ONNX Runtime session each); later keys keep the shared model."},
		{Name: "field", Type: component.String, Default: "learn_version",
			Description: "Field set on each output message to the number of updates of the model that scored it (0: the shared model)."},
	}}

// learner fine-tunes a copy of the model per key, off the hot path: the
// stage records each scored window, and every `every` windows of a key a
// job goes to the one trainer goroutine, which fine-tunes, re-quantises,
// and swaps the key's model. At most one update runs at a time and a key
// has at most one waiting, and the trainer rests after each update so that
// it takes at most `budget` of a core on average: when it falls behind,
// updates come less often than every `every`.
type learner struct {
	every, steps, batch, keep, maxKeys, calibrate int
	rate, normal, budget                          float64
	field                                         string
	opts                                          models.LoadOptions

	// Set by start, read-only after.
	base      *anomaly.Autoencoder
	quantised bool
	in, out   string // the fields of the model's input and output
	jobs      chan job

	mu   sync.Mutex
	keys map[string]*learnKey

	// What it did, for the logs and tests.
	updates, rejected atomic.Int64
	busy              atomic.Int64 // nanoseconds spent training and swapping
}

// learnKey is one key's state: its recent windows and their errors, in a
// ring, and its own model once it has one.
type learnKey struct {
	wins    [][]float32
	errs    []float64
	next    int // ring position
	seen    int // windows since the last job
	pending bool
	model   *models.Model // nil until the first update
	weights *anomaly.Autoencoder
	version int
}

type job struct {
	key   string
	base  *anomaly.Autoencoder
	train [][]float32
	seed  uint64
}

func newLearner(conf *component.Config, opts models.LoadOptions) (*learner, error) {
	if !conf.Has("learn") {
		return nil, nil
	}
	c := conf.Object("learn")
	if c.Int("every") == 0 {
		return nil, nil
	}
	if opts.SHA256 != "" {
		return nil, conf.Errorf("learn", "a model pinned by sha256 cannot learn: the learned versions differ from it")
	}
	return &learner{every: c.Int("every"), steps: c.Int("steps"), batch: c.Int("batch"), keep: c.Int("keep"),
		maxKeys: c.Int("max_keys"), calibrate: c.Int("calibrate"), rate: c.Float("rate"), normal: c.Float("normal"),
		budget: c.Float("budget"), field: c.String("field"),
		opts: opts, keys: map[string]*learnKey{}}, nil
}

// start reads the weights to learn from off the model file and starts the
// trainer, which stops when ctx is done.
func (l *learner) start(ctx context.Context, s *Stage, m *models.Model) error {
	data, err := os.ReadFile(s.path)
	if err != nil {
		return fmt.Errorf("learn: %w", err)
	}
	if l.base, err = anomaly.ReadModel(data); err != nil {
		return fmt.Errorf("learn: the model is not an autoencoder this stage can train: %w", err)
	}
	info, err := m.Info()
	if err != nil {
		return err
	}
	if len(info.Inputs) != 1 || len(info.Outputs) != 1 {
		return fmt.Errorf("learn: an autoencoder has one input and one output, this model has %d and %d", len(info.Inputs), len(info.Outputs))
	}
	l.quantised = info.Quantized()
	l.in = s.inputs[info.Inputs[0].Name]
	l.out = s.outputField(info.Outputs[0].Name)
	if l.out == "" {
		return errors.New("learn: the model's output is not mapped in `outputs`")
	}
	l.jobs = make(chan job, l.maxKeys)
	s.wg.Go(func() { l.train(ctx, s) })
	return nil
}

// runModels scores batch: messages of keys with a model of their own on it, the
// others together on the shared model; then it records the windows.
func (s *Stage) runModels(shared *models.Model, batch []*pipeline.Message, errs []error) error {
	l := s.learn
	if l == nil {
		return shared.Use(func(sess *models.Session) error {
			s.runBatch(sess, batch, errs)
			return nil
		})
	}
	own, versions := l.models(batch)
	var rest []int
	byModel := map[*models.Model][]int{}
	for i, m := range own {
		if m == nil {
			rest = append(rest, i)
		} else {
			byModel[m] = append(byModel[m], i)
		}
	}
	var first error // of the shared model, when it alone scores the batch
	runOn := func(m *models.Model, idx []int) {
		sub := make([]*pipeline.Message, len(idx))
		subErrs := make([]error, len(idx))
		for j, i := range idx {
			sub[j] = batch[i]
		}
		err := m.Use(func(sess *models.Session) error {
			s.runBatch(sess, sub, subErrs)
			return nil
		})
		for j, i := range idx {
			if errs[i] = subErrs[j]; err != nil { // closed under us: only this group fails
				errs[i] = err
			}
		}
	}
	if len(rest) == len(batch) {
		first = shared.Use(func(sess *models.Session) error {
			s.runBatch(sess, batch, errs)
			return nil
		})
	} else {
		if len(rest) > 0 {
			runOn(shared, rest)
		}
		for m, idx := range byModel {
			runOn(m, idx)
		}
	}
	l.record(batch, errs, versions)
	return first
}

// models returns, for each message, its key's own model (nil: the shared
// one) and that model's version (0: the shared one).
func (l *learner) models(batch []*pipeline.Message) ([]*models.Model, []int) {
	out, versions := make([]*models.Model, len(batch)), make([]int, len(batch))
	l.mu.Lock()
	defer l.mu.Unlock()
	for i, m := range batch {
		if k := l.keys[m.Key]; k != nil {
			out[i], versions[i] = k.model, k.version
		}
	}
	return out, versions
}

// record keeps each scored window and its error in its key's ring, stamps
// the version that scored it, and hands a key whose turn has come to the
// trainer's queue.
func (l *learner) record(batch []*pipeline.Message, errs []error, versions []int) {
	var due []job
	l.mu.Lock()
	for i, m := range batch {
		if errs[i] != nil {
			continue
		}
		x, _ := m.Fields[l.in].([]float32)
		y, _ := m.Fields[l.out].([]float32)
		k := l.keys[m.Key]
		if k == nil {
			if len(l.keys) >= l.maxKeys {
				continue
			}
			k = &learnKey{}
			l.keys[m.Key] = k
		}
		m.Fields[l.field] = versions[i]
		if len(x) != l.base.Window || len(y) != len(x) {
			continue
		}
		e := anomaly.MSE(x, y)
		if !finite(e) {
			continue
		}
		w := slices.Clone(x)
		if len(k.wins) < l.keep {
			k.wins, k.errs = append(k.wins, w), append(k.errs, e)
		} else {
			k.wins[k.next], k.errs[k.next] = w, e
		}
		k.next = (k.next + 1) % l.keep
		k.seen++
		if k.seen >= l.every && !k.pending {
			k.seen, k.pending = 0, true
			base := k.weights
			if base == nil {
				base = l.base
			}
			due = append(due, job{key: m.Key, base: base, train: normalWindows(k.wins, k.errs, l.normal), seed: uint64(k.version)})
		}
	}
	l.mu.Unlock()
	for _, j := range due {
		l.jobs <- j // never blocks: a key has at most one job pending, and room is made for every key
	}
}

// normalWindows returns the windows whose error is at or below quantile q
// of errs.
func normalWindows(wins [][]float32, errs []float64, q float64) [][]float32 {
	sorted := slices.Clone(errs)
	slices.Sort(sorted)
	limit := sorted[min(len(sorted)-1, int(q*float64(len(sorted))))]
	var out [][]float32
	for i, w := range wins {
		if errs[i] <= limit {
			out = append(out, w)
		}
	}
	return out
}

// train runs jobs until ctx is done.
func (l *learner) train(ctx context.Context, s *Stage) {
	for {
		select {
		case <-ctx.Done():
			return
		case j := <-l.jobs:
			start := time.Now()
			err := l.update(s, j)
			took := time.Since(start)
			l.busy.Add(int64(took))
			l.mu.Lock()
			l.keys[j.key].pending = false
			l.mu.Unlock()
			switch {
			case errors.Is(err, errNoGain): // ordinary: the model already fits
				l.rejected.Add(1)
				s.log.Debug().Err(err).Str("key", j.key).Msg("learned model not better; the key keeps its current one")
			case err != nil:
				l.rejected.Add(1)
				s.log.Warn().Err(err).Str("key", j.key).Msg("learned model rejected; the key keeps its current one")
			}
			rest := time.NewTimer(time.Duration(float64(took) * (1/l.budget - 1)))
			select {
			case <-ctx.Done():
				rest.Stop()
				return
			case <-rest.C:
			}
		}
	}
}

// update fine-tunes a key's weights on its windows, re-quantises them with
// calibration from the same windows, and swaps the key's model. A model
// that got worse on its own windows, diverged, or fails the load checks
// (the int8 kernel check among them) is never swapped in.
func (l *learner) update(s *Stage, j job) error {
	tuned, res, err := anomaly.FineTune(j.base, j.train, anomaly.TuneConfig{Steps: l.steps, BatchSize: l.batch,
		LearningRate: l.rate, Seed: j.seed})
	if err != nil {
		return err
	}
	if res.After > res.Before {
		return fmt.Errorf("learn: error on the key's windows %.4g -> %.4g: %w", res.Before, res.After, errNoGain)
	}
	var data []byte
	if l.quantised {
		calib := j.train
		if len(calib) > l.calibrate { // spread evenly over the kept ones
			calib = make([][]float32, l.calibrate)
			for i := range calib {
				calib[i] = j.train[i*len(j.train)/l.calibrate]
			}
		}
		_, data, err = anomaly.ExportPair(tuned, calib, nil)
	} else {
		data, err = tuned.MarshalONNX(nil)
	}
	if err != nil {
		return fmt.Errorf("learn: export: %w", err)
	}
	l.mu.Lock()
	k := l.keys[j.key]
	m := k.model
	l.mu.Unlock()
	if m == nil {
		m, err = models.OpenBytes(s.path+"#"+j.key, data, l.opts)
	} else {
		err = m.Swap(data)
	}
	if err != nil {
		return err
	}
	l.mu.Lock()
	k.model, k.weights = m, tuned
	k.version++
	l.mu.Unlock()
	l.updates.Add(1)
	return nil
}

// errNoGain rejects an update that did not lower the error on the
// windows it learned from.
var errNoGain = errors.New("no better")

// close closes the keys' models once the trainer has stopped.
func (l *learner) close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	var errs []error
	for _, k := range l.keys {
		if k.model != nil {
			errs = append(errs, k.model.Close())
		}
	}
	return errors.Join(errs...)
}

func finite(v float64) bool { return v == v && v-v == 0 }
