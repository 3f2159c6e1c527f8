// Package reload runs a pipeline file and replaces the running graph when
// the file changes (on SIGHUP, or when watched), without losing messages.
//
// A reload re-reads and validates the file first: an invalid file is
// rejected with its file:line:col errors and the running pipeline goes on.
// A valid one is built next to the running pipeline, reusing what did not
// change: connections keep their broker sessions (and with them the
// unacknowledged messages), and stages and sinks whose settings are the same
// keep their state, such as a loaded model. Then the running pipeline stops
// its sources and drains: every message in flight is delivered and
// acknowledged, as on a graceful shutdown. The new pipeline starts as soon
// as the old one has drained, and its sources subscribe again through the
// kept connections, so the broker delivers whatever was not yet
// acknowledged. Delivery stays at least once: nothing is lost, and only
// what a broker redelivers anyway can be seen twice.
package reload

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/edgeflow/edgeflow/config"
	"github.com/edgeflow/edgeflow/internal/admin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
)

// ErrStopped is returned by Reload once Run has returned.
var ErrStopped = errors.New("reload: the pipeline is not running")

// Runner owns a pipeline built from a file and replaces it on Reload. It
// implements admin.Target and admin.Viewer, so the admin server always shows
// the pipeline that runs now. Create it with New, call Run once, and Close
// it after Run has returned.
type Runner struct {
	path string
	log  zerolog.Logger

	reqs    chan chan error // reload requests to the Run loop
	stopped chan struct{}   // closed when Run returns

	mu     sync.Mutex // guards the fields below
	file   *config.File
	raw    []byte // the file's bytes, to skip a reload that changes nothing
	built  *config.Built
	gen    int
	status admin.ReloadStatus
}

// New builds f, a file loaded with config.Load (its connections are
// started), into a Runner that reloads f.Path. The build error joins one
// *component.Error per problem.
func New(ctx context.Context, f *config.File, log zerolog.Logger) (*Runner, error) {
	raw, err := os.ReadFile(f.Path)
	if err != nil {
		return nil, fmt.Errorf("read pipeline file: %w", err)
	}
	built, err := f.Build(ctx, config.BuildOptions{Logger: log})
	if err != nil {
		return nil, err
	}
	return &Runner{path: f.Path, log: log, reqs: make(chan chan error), stopped: make(chan struct{}),
		file: f, raw: raw, built: built}, nil
}

func load(path string) ([]byte, *config.File, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("read pipeline file: %w", err)
	}
	f, err := config.Parse(raw, path)
	if err != nil {
		return nil, nil, err
	}
	// As validate does: a reload must not swap in expressions that fail on
	// the fields their messages have.
	if _, errs := f.CheckFields(zerolog.Nop()); len(errs) > 0 {
		return nil, nil, errors.Join(errs...)
	}
	return raw, f, nil
}

// File returns the definition that runs now.
func (r *Runner) File() *config.File {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.file
}

func (r *Runner) current() (*config.Built, *config.File, int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.built, r.file, r.gen
}

// Run runs the pipeline until its sources end, or ctx is done (then it
// drains, as pipeline.Run does), replacing it whenever Reload asks.
func (r *Runner) Run(ctx context.Context) error {
	defer close(r.stopped)
	for {
		built, _, _ := r.current()
		runCtx, stopRun := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- built.Pipeline.Run(runCtx) }()
		next, err := r.serveReloads(ctx, done)
		if next == nil {
			stopRun()
			return err
		}
		// Swap: stop the old graph's sources and let it drain. Components
		// the new graph reuses are not closed.
		built.Pipeline.Retain(next.carry.Components...)
		stopRun()
		if err := <-done; err != nil {
			r.log.Error().Err(err).Msg("reload: the replaced pipeline stopped with an error")
		}
		// Connections the new build did not take over close now.
		if err := built.Close(context.WithoutCancel(ctx)); err != nil {
			r.log.Error().Err(err).Msg("reload: closing replaced connections")
		}
		r.mu.Lock()
		r.built, r.file, r.raw = next.built, next.file, next.raw
		r.gen++
		r.status.Count++
		r.mu.Unlock()
		r.log.Info().Int("kept_connections", len(next.carry.Connections)).
			Int("kept_components", len(next.carry.Components)).Int("nodes", len(next.built.Pipeline.Nodes())).
			Msg("reload: new pipeline running")
		next.result <- nil
	}
}

// prepared is a validated, built replacement waiting for the swap.
type prepared struct {
	file   *config.File
	raw    []byte
	built  *config.Built
	carry  *config.Carry
	result chan error
}

// serveReloads waits for the pipeline to end (returning nil and its error)
// or for a reload that built a replacement (returned for the swap). Reloads
// that fail are answered here and the pipeline goes on.
func (r *Runner) serveReloads(ctx context.Context, done <-chan error) (*prepared, error) {
	for {
		select {
		case err := <-done:
			return nil, err
		case res := <-r.reqs:
			next, err := r.prepare(ctx)
			r.mu.Lock()
			r.status.Last = time.Now()
			r.status.LastError = ""
			if err != nil {
				r.status.LastError = err.Error()
			}
			r.mu.Unlock()
			switch {
			case err != nil:
				res <- err
			case next == nil: // the file did not change
				res <- nil
			default:
				next.result = res
				return next, nil
			}
		}
	}
}

// prepare reads the file and builds what replaces the running pipeline;
// nil when the file is unchanged.
func (r *Runner) prepare(ctx context.Context) (*prepared, error) {
	raw, f, err := load(r.path)
	if err != nil {
		return nil, err
	}
	built, old, _ := r.current()
	if bytes.Equal(raw, r.raw) {
		return nil, nil
	}
	r.log.Info().Str("file", r.path).Msg("reload: pipeline file changed")
	carry := f.CarryFrom(old, built)
	next, err := f.Build(ctx, config.BuildOptions{Logger: r.log, Carry: carry})
	if err != nil {
		return nil, err
	}
	return &prepared{file: f, raw: raw, built: next, carry: carry}, nil
}

// Reload re-reads the file and, when it is valid and changed, replaces the
// running pipeline; it returns once the new one runs. An invalid file is
// rejected with its errors (one *component.Error per problem, joined) and
// the running pipeline goes on. Model stages that were kept keep their
// sessions; ReloadModels reloads model files.
func (r *Runner) Reload(ctx context.Context) error {
	res := make(chan error, 1)
	select {
	case r.reqs <- res:
	case <-r.stopped:
		return ErrStopped
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-res:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// ReloadModels asks the running pipeline's reloadable components (model
// stages) to load their files again, as SIGHUP does.
func (r *Runner) ReloadModels() error {
	built, _, _ := r.current()
	if err := built.Reload(); err != nil {
		return fmt.Errorf("reload models: %w", err)
	}
	return nil
}

// Watch polls the file every interval and reloads it when its size or
// modification time has changed and then stayed the same for one interval
// (so that a file being written is not read half-way), until ctx is done.
// Failures are logged.
//
// The first settled look always asks for a reload: the file may have been
// written between New reading it and Watch starting, and the stat taken
// here would then hide that change for ever. Reload compares contents, so
// an unchanged file costs one read.
func (r *Runner) Watch(ctx context.Context, interval time.Duration) {
	var loaded os.FileInfo
	seen, _ := os.Stat(r.path)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		st, err := os.Stat(r.path)
		if err != nil {
			continue
		}
		settled := sameStat(st, seen)
		seen = st
		if !settled || sameStat(st, loaded) {
			continue
		}
		loaded = st
		if err := r.Reload(ctx); err != nil && !errors.Is(err, ErrStopped) && ctx.Err() == nil {
			LogError(r.log, err)
		}
	}
}

func sameStat(a, b os.FileInfo) bool {
	return a != nil && b != nil && a.Size() == b.Size() && a.ModTime().Equal(b.ModTime())
}

// LogError logs a failed reload, one line per problem of the file.
func LogError(log zerolog.Logger, err error) {
	var errs []error
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	} else {
		errs = []error{err}
	}
	for _, e := range errs {
		log.Error().Msg("reload rejected: " + e.Error())
	}
	log.Warn().Msg("reload rejected; the running pipeline goes on unchanged")
}

// Close closes the connections of the last pipeline. Call it after Run has
// returned.
func (r *Runner) Close(ctx context.Context) error {
	built, _, _ := r.current()
	return built.Close(ctx)
}

// Ready implements admin.Target.
func (r *Runner) Ready() bool {
	built, _, _ := r.current()
	return built.Pipeline.Ready()
}

// Metrics implements admin.Target: the metrics of whichever pipeline runs
// now, with its connections' and components'.
func (r *Runner) Metrics() prometheus.Collector { return collector{r} }

// collector is unchecked (it describes nothing), because the set of
// metrics changes when a reload replaces the graph.
type collector struct{ r *Runner }

func (collector) Describe(chan<- *prometheus.Desc) {}

func (c collector) Collect(ch chan<- prometheus.Metric) {
	built, _, _ := c.r.current()
	built.Pipeline.Metrics().Collect(ch)
	for _, col := range built.Collectors() {
		col.Collect(ch)
	}
}

// View implements admin.Viewer.
func (r *Runner) View() admin.View {
	r.mu.Lock()
	defer r.mu.Unlock()
	v := admin.View{Pipeline: r.built.Pipeline, Types: map[string]string{},
		Components: r.built.Components, Connections: map[string]any{},
		Generation: r.gen, Reload: r.status}
	for name, c := range r.built.Connections {
		v.Connections[name] = c
	}
	for _, c := range r.file.Connections {
		v.Types[c.Name] = c.Type
	}
	for _, n := range r.file.Nodes {
		v.Types[n.Name] = n.Type
	}
	if dl := r.file.DeadLetter; dl != nil {
		v.Types[dl.Name] = dl.Type
	}
	return v
}
