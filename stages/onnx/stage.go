// Package onnx is the `onnx` stage: it runs an ONNX model on message fields
// with ONNX Runtime, gathering concurrent messages into one run along the
// model's batch dimension.
package onnx

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/edgeflow/edgeflow/component"
	"github.com/edgeflow/edgeflow/models"
	"github.com/edgeflow/edgeflow/pipeline"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
)

func init() {
	component.Register(component.Spec{
		Kind:     pipeline.KindStage,
		Schema:   stageSchema,
		Name:     "onnx",
		Summary:  "Run an ONNX model on message fields with ONNX Runtime, with dynamic micro-batching.",
		Batching: true,
		Description: `Feeds float32 tensors from message fields to the model's inputs and writes its
outputs back to fields. A field holds a ` + "`[]float32`" + ` (or a list of numbers), with its
shape in the sibling field ` + "`<field>_shape`" + ` when the model's shape leaves it open, or a
` + "`models.Tensor`" + `. Each output field gets a ` + "`[]float32`" + ` and ` + "`<field>_shape`" + ` its shape,
always as if the message had run alone (batch dimension 1).

**Micro-batching.** With ` + "`batch: {max_size: 32, max_delay: 2ms}`" + ` the engine hands the stage
up to 32 queued messages; when dimension 0 of every model input is dynamic, messages
whose inputs have the same shape are stacked into one run and the outputs split back.
A model with a fixed batch of k runs groups of k (the last padded); any other model
runs each message on its own.

A message whose inputs are missing or do not fit the model fails alone (it goes to
the dead-letter sink with the reason); if a batched run fails, its messages are
retried one by one so that only the culprit fails.

**Hot swap.** With ` + "`watch`" + ` the model file is polled (mtime, size, inode) and reloaded when
it changes, and ` + "`edgeflow run`" + ` reloads it on SIGHUP. The new version must load, match
` + "`sha256`" + ` if given, and still have the configured inputs and outputs; otherwise it is
rejected (logged) and the old version keeps serving. Runs in flight finish on the old
version, which is closed after the last one returns.

**int8 kernel check.** ONNX Runtime's int8 kernels differ by CPU (AVX2, AVX-512 VNNI,
AMX, arm64 dot product), and one of them has been wrong for some shapes (ORT 1.24.3's
AMX U8S8 GEMM). Every load of an int8 model therefore runs the few samples the quantiser
stored in it through the optimised session and through the same graph with only basic
graph optimisations (no Q/DQ fusion: Q/DQ run as written, float maths in between) and compares the
outputs; with ` + "`kernel_check: refuse`" + ` (the default) a disagreement fails the load with
an error that names the CPU and its flags, ` + "`warn`" + ` logs it at error level and serves.

**On-device learning.** With ` + "`learn: {every: N}`" + ` an autoencoder (one input, reconstructed as
its one output) keeps learning per key: every N windows a key's own copy of the model is
fine-tuned in Go on its recent normal-looking windows (mini-batch Adam), re-quantised with
calibration from them when the model is int8, vetted as a reload is (kernel check, inputs)
and swapped in; runs in flight finish on the old version. One trainer goroutine does the
updates, resting so that it takes at most ` + "`budget`" + ` of a core; a worse or diverged update
is never swapped in. See docs/anomaly.md.

The ONNX Runtime library is taken from ` + "`library`" + `, else ` + "`$ONNXRUNTIME_LIB`" + `, else
` + "`.cache/onnxruntime`" + ` (` + "`make deps`" + `), else the system's loader paths. The model is
loaded on the first message, so ` + "`edgeflow validate`" + ` only checks that the file exists.`,
		Fields: []component.Field{
			{Name: "model", Type: component.String, Example: "models/autoencoder.onnx",
				Description: "Path of the .onnx file, relative to the pipeline file."},
			{Name: "sha256", Type: component.String, Optional: true,
				Description: "Hex SHA-256 the model file must have (checked on every load)."},
			{Name: "inputs", Type: component.StringMap, Example: "{input: window}",
				Description: "Model input name → message field that feeds it. Every model input needs one."},
			{Name: "outputs", Type: component.StringMap, Optional: true, Example: "{output: score}",
				Description: "Model output name → message field it is written to (default: every output, to a field of its own name)."},
			{Name: "shape_suffix", Type: component.String, Default: "_shape",
				Description: "Suffix of the sibling fields that carry tensor shapes."},
			{Name: "threads", Type: component.Int, Default: 0, Min: component.Bound(0),
				Description: "ONNX Runtime intra-op threads; 0 lets ORT choose (one per core)."},
			{Name: "inter_threads", Type: component.Int, Default: 0, Min: component.Bound(0),
				Description: "Inter-op threads (execution_mode parallel only); 0 lets ORT choose."},
			{Name: "optimization", Type: component.String, Default: "all", Enum: models.OptimizationLevels,
				Description: "Graph optimisation level."},
			{Name: "execution_mode", Type: component.String, Default: "sequential", Enum: models.ExecutionModes,
				Description: "Run graph nodes one at a time or independent ones in parallel."},
			{Name: "spinning", Type: component.Bool, Default: false,
				Description: "Let idle ORT threads busy-wait (slightly lower latency, a core's worth of power when idle)."},
			{Name: "kernel_check", Type: component.String, Default: "refuse", Enum: models.KernelChecks,
				Description: "For an int8 model: run its stored samples through ORT's optimised int8 kernels and through the unfused reference on every load, and refuse the model (refuse), log an error naming the CPU features (warn), or skip the check (off) when they disagree."},
			{Name: "watch", Type: component.Duration, Default: "0s",
				Description: "Poll the model file this often and reload it when it changes; 0 disables."},
			{Name: "library", Type: component.String, Optional: true,
				Description: "Path of libonnxruntime.so (relative to the pipeline file); overrides $ONNXRUNTIME_LIB and the cache."},
			learnField,
		},
		Example: `stages:
  score:
    type: onnx
    input: windows
    model: models/autoencoder.onnx
    inputs: {x: window}
    outputs: {y: reconstruction}
    threads: 2
    batch: {max_size: 32, max_delay: 2ms}`,
		New: newStage,
	})
}

// retryOpen bounds how often a model that failed to load is tried again.
const retryOpen = 5 * time.Second

// Stage runs a model on batches of messages. It implements
// pipeline.BatchProcessor and pipeline.Closer.
type Stage struct {
	path    string
	library string
	opts    models.LoadOptions
	inputs  map[string]string // model input -> field
	// inputFields maps each model input to its field and that field's
	// shape field, named once rather than per message.
	inputFields map[string][2]string
	outputs     map[string]string // model output -> field; nil means all
	// shapeFields maps each field of outputs to its shape field, named once
	// rather than per run.
	shapeFields map[string]string
	suffix      string
	// oneShapes holds, per model input (the first few), its last shape at
	// batch size 1 (see oneShape).
	oneShapes [maxStackInputs]atomic.Pointer[[]int64]
	watch     time.Duration
	log       zerolog.Logger
	metrics   *metrics
	learn     *learner // nil: the model does not learn

	mu       sync.Mutex // guards the fields below
	model    *models.Model
	openErr  error
	openedAt time.Time
	closed   bool
	stop     context.CancelFunc
	wg       sync.WaitGroup // watch and signal goroutines
}

func newStage(conf *component.Config, res *component.Resources) (any, error) {
	s := &Stage{
		path:    resolve(res.Dir, conf.String("model")),
		inputs:  conf.StringMap("inputs"),
		suffix:  conf.String("shape_suffix"),
		watch:   conf.Duration("watch"),
		log:     res.Logger,
		metrics: newMetrics(res.Pipeline, res.Node),
	}
	if conf.Has("outputs") {
		s.outputs = conf.StringMap("outputs")
	}
	if conf.Has("library") {
		s.library = resolve(res.Dir, conf.String("library"))
	}
	s.opts = models.LoadOptions{
		Options: models.Options{
			IntraOpThreads: conf.Int("threads"), InterOpThreads: conf.Int("inter_threads"),
			Optimization: conf.String("optimization"), ExecutionMode: conf.String("execution_mode"),
			Spinning: conf.Bool("spinning"),
		},
		Check:       s.check,
		KernelCheck: models.KernelCheck(conf.String("kernel_check")),
		Logger:      &s.log,
	}
	if conf.Has("sha256") {
		sum := conf.String("sha256")
		if b, err := hex.DecodeString(sum); err != nil || len(b) != 32 {
			return nil, conf.Errorf("sha256", "want 64 hex digits, got %q", sum)
		}
		s.opts.SHA256 = sum
	}
	var err error
	if s.learn, err = newLearner(conf, s.opts); err != nil {
		return nil, err
	}
	if len(s.inputs) == 0 {
		return nil, conf.Errorf("inputs", "map at least one model input to a field")
	}
	if s.suffix == "" {
		return nil, conf.Errorf("shape_suffix", "must not be empty")
	}
	s.inputFields = make(map[string][2]string, len(s.inputs))
	for name, field := range s.inputs {
		s.inputFields[name] = [2]string{field, field + s.suffix}
	}
	s.shapeFields = make(map[string]string, len(s.outputs))
	for _, field := range s.outputs {
		s.shapeFields[field] = field + s.suffix
	}
	// A stat is no I/O to speak of, and it turns the commonest mistake into
	// a positioned config error at validate time.
	if st, err := os.Stat(s.path); err != nil {
		return nil, conf.Errorf("model", "%v", err)
	} else if st.IsDir() {
		return nil, conf.Errorf("model", "%s is a directory", s.path)
	}
	return s, nil
}

func resolve(dir, path string) string {
	if path == "" || filepath.IsAbs(path) || dir == "" {
		return path
	}
	return filepath.Join(dir, path)
}

// check vets a model version against the stage's config; a reload that
// fails it is rejected.
func (s *Stage) check(info *models.Info) error {
	for _, in := range info.Inputs {
		if _, ok := s.inputs[in.Name]; !ok {
			return fmt.Errorf("model input %q (%s) is not mapped in `inputs`", in.Name, in.ShapeString())
		}
		if !in.Float32() {
			return fmt.Errorf("model input %q is %s %s; the onnx stage feeds float32 tensors only", in.Name, in.Kind, in.Type)
		}
	}
	for name := range s.inputs {
		if _, ok := info.Input(name); !ok {
			return fmt.Errorf("`inputs` maps %q, but the model's inputs are %v", name, info.InputNames())
		}
	}
	for name := range s.outputs {
		if _, ok := info.Output(name); !ok {
			return fmt.Errorf("`outputs` maps %q, but the model's outputs are %v", name, info.OutputNames())
		}
	}
	return nil
}

// open loads the model on first use (constructors do no I/O) and starts the
// reload watchers. A failure is remembered for retryOpen so that a broken
// model is not parsed again for every batch.
func (s *Stage) open() (*models.Model, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.model != nil {
		return s.model, nil
	}
	if s.closed {
		return nil, models.ErrClosed
	}
	if s.openErr != nil && time.Since(s.openedAt) < retryOpen {
		return nil, s.openErr
	}
	s.openedAt = time.Now()
	if err := models.Init(s.library); err != nil {
		s.openErr = err
		s.log.Error().Err(err).Msg("ONNX Runtime unavailable")
		return nil, err
	}
	m, err := models.Open(s.path, s.opts)
	if err != nil {
		s.openErr = err
		s.log.Error().Err(err).Msg("model failed to load")
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	if s.learn != nil {
		if err := s.learn.start(ctx, s, m); err != nil {
			cancel()
			m.Close()
			s.openErr = err
			s.log.Error().Err(err).Msg("model cannot learn")
			return nil, err
		}
	}
	s.stop = cancel
	s.model, s.openErr = m, nil
	s.metrics.model.Store(m)
	info, _ := m.Info()
	s.log.Info().Str("model", s.path).Str("sha256", info.SHA256).Strs("inputs", info.InputNames()).
		Strs("outputs", info.OutputNames()).Msg("model loaded")
	if s.watch > 0 {
		s.wg.Go(func() { m.Watch(ctx, s.watch) })
	}
	return m, nil
}

// Reload loads the model file again now; `edgeflow run` calls it on
// SIGHUP. Before the first message there is nothing to reload.
func (s *Stage) Reload() error {
	s.mu.Lock()
	m := s.model
	s.mu.Unlock()
	if m == nil {
		return nil
	}
	return m.Reload()
}

// Metrics returns the stage's collector (queue time, inference time, batch
// sizes, reloads); register it next to the pipeline's own.
func (s *Stage) Metrics() prometheus.Collector { return s.metrics }

// Close stops the watchers and closes the model once its runs are done.
func (s *Stage) Close(context.Context) error {
	s.mu.Lock()
	s.closed = true
	m, stop := s.model, s.stop
	s.mu.Unlock()
	if stop != nil {
		stop()
	}
	s.wg.Wait()
	var err error
	if s.learn != nil {
		err = s.learn.close()
	}
	if m != nil {
		err = errors.Join(err, m.Close())
	}
	return err
}

// ThreadBound implements pipeline.ThreadBound: while messages are queued
// for it, each worker keeps to one OS thread, so that the model's weights
// stay in one core's caches between runs (a small model at batch 1 ran
// about 5 % faster so; BENCHMARKS.md).
func (s *Stage) ThreadBound() bool { return true }

// ProcessBatch implements pipeline.BatchProcessor.
func (s *Stage) ProcessBatch(ctx context.Context, batch []*pipeline.Message, out pipeline.Emitter) []error {
	now := clock()
	for _, m := range batch {
		if !m.IngestTime.IsZero() {
			s.metrics.queue.observe(int64(now - m.IngestTime.Sub(clockBase)))
		}
	}
	var one [1]error // batch 1, the common case, allocates only on failure
	errs := one[:]
	if len(batch) != 1 {
		errs = make([]error, len(batch))
	}
	model, err := s.open()
	if err != nil {
		for i := range errs {
			errs[i] = err
		}
		s.metrics.failed.Add(float64(len(batch)))
		return slices.Clone(errs)
	}
	if err = s.runModels(model, batch, errs); err != nil { // the model was closed under us (shutdown)
		for i := range errs {
			if errs[i] == nil {
				errs[i] = err
			}
		}
	}
	failed := 0
	for i, m := range batch {
		if errs[i] != nil {
			failed++
			continue
		}
		out.Emit(m)
	}
	if failed == 0 {
		return nil
	}
	s.metrics.failed.Add(float64(failed))
	return slices.Clone(errs)
}

var errNoValue = errors.New("missing")

// clockBase anchors clock. time.Now reads the wall and the monotonic clock
// (two vDSO calls, 60-110 ns on a KVM guest: a percent of a 12 µs model
// run, and the stage timed each message three times); the time since a
// Time that carries a monotonic reading takes one. Ingest times come from
// time.Now, so their distance to clockBase is monotonic too.
var clockBase = time.Now()

// clock is the monotonic time since clockBase.
func clock() time.Duration { return time.Since(clockBase) }
