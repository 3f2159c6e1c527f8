//go:build gocv

package camera

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/edgeflow/edgeflow/component"
	"github.com/edgeflow/edgeflow/internal/redact"
	"github.com/edgeflow/edgeflow/pipeline"
	"github.com/edgeflow/edgeflow/vision/frame"
	"github.com/rs/zerolog"
)

func init() { build = newCamera }

// config is the parsed configuration.
type config struct {
	id          string
	device      int // -1 when not a device
	file, url   string
	loop        bool
	fps         float64
	realtime    bool
	keepLatest  bool
	maxInFlight int
	width       int
	height      int
	statsEvery  time.Duration
	minBackoff  time.Duration
	maxBackoff  time.Duration
	maxAttempts int
}

// source describes what is being captured, for logs and errors.
func (c *config) source() string {
	switch {
	case c.device >= 0:
		return fmt.Sprintf("device %d", c.device)
	case c.file != "":
		return "file " + c.file
	}
	return "stream " + redact.Text(c.url)
}

// Camera is the camera source. It implements pipeline.Source.
type Camera struct {
	cfg   config
	log   zerolog.Logger
	stats Stats
	// pipeline and node label the metrics.
	pipeline, node string
	// open opens the capture; tests replace it.
	open func(*config) (capture, error)
}

// Stats are a camera's counters since Run started.
type Stats struct {
	// Captured frames were read from the capture.
	Captured atomic.Uint64
	// Emitted frames went into the pipeline.
	Emitted atomic.Uint64
	// Skipped frames were replaced by a newer one before the pipeline could
	// take them (keep_latest).
	Skipped atomic.Uint64
	// Capped frames were read from a live capture and dropped to hold fps.
	Capped atomic.Uint64
	// Failed frames were settled with an error downstream.
	Failed atomic.Uint64
	// OpenFailures counts attempts to open the capture that failed (or
	// opened but gave no frame); Reconnects counts reopenings after a
	// capture that had been delivering frames stopped.
	OpenFailures atomic.Uint64
	Reconnects   atomic.Uint64
}

// Stats returns the camera's live counters.
func (c *Camera) Stats() *Stats { return &c.stats }

func newCamera(conf *component.Config, res *component.Resources) (any, error) {
	c := config{
		id: conf.String("id"), device: -1, loop: conf.Bool("loop"), fps: conf.Float("fps"),
		realtime: conf.Bool("realtime"), keepLatest: conf.Bool("keep_latest"),
		maxInFlight: conf.Int("max_in_flight"), statsEvery: conf.Duration("stats_interval"),
		minBackoff: 500 * time.Millisecond, maxBackoff: 10 * time.Second,
	}
	if c.id == "" {
		c.id = res.Node
	}
	given := 0
	if conf.Has("device") {
		c.device = conf.Int("device")
		given++
	}
	if conf.Has("file") {
		c.file = conf.String("file")
		if c.file == "" {
			return nil, conf.Errorf("file", "empty file name")
		}
		if !filepath.IsAbs(c.file) && res.Dir != "" {
			c.file = filepath.Join(res.Dir, c.file)
		}
		given++
	}
	if conf.Has("url") {
		c.url = conf.String("url")
		if c.url == "" {
			return nil, conf.Errorf("url", "empty URL")
		}
		given++
	}
	if given != 1 {
		return nil, conf.Errorf("", "give exactly one of device, file and url (got %d)", given)
	}
	if c.loop && c.file == "" {
		return nil, conf.Errorf("loop", "loop applies to files only")
	}
	if conf.Has("width") {
		c.width = conf.Int("width")
	}
	if conf.Has("height") {
		c.height = conf.Int("height")
	}
	if r := conf.Object("reconnect"); r != nil {
		c.minBackoff, c.maxBackoff, c.maxAttempts = r.Duration("min_backoff"), r.Duration("max_backoff"), r.Int("max_attempts")
		if c.minBackoff <= 0 || c.maxBackoff < c.minBackoff {
			return nil, r.Errorf("max_backoff", "want 0 < min_backoff <= max_backoff (got %v, %v)", c.minBackoff, c.maxBackoff)
		}
	}
	return &Camera{cfg: c, log: res.Logger, open: openCapture, pipeline: res.Pipeline, node: res.Node}, nil
}

// Run captures until ctx is done, or the file ends (without loop), or the
// capture fails max_attempts times in a row.
func (c *Camera) Run(ctx context.Context, out pipeline.SourceOutput) error {
	pool := frame.NewPool(c.cfg.maxInFlight + 3)
	defer pool.Close() // frames still in flight close when settled
	sl := newSlot()
	grabCtx, stopGrab := context.WithCancel(ctx)
	var (
		wg      sync.WaitGroup
		grabErr error
	)
	wg.Go(func() {
		defer sl.close()
		grabErr = (&grabber{cam: c, pool: pool, slot: sl}).run(grabCtx)
	})
	defer func() {
		stopGrab()
		wg.Wait()
		if f := sl.drain(); f != nil {
			f.Release()
		}
		c.logStats("camera stopped")
	}()

	fl := &flow{free: make(chan struct{}, 1), max: int32(c.cfg.maxInFlight)}
	settle := func(token any, err error) {
		token.(*frame.Frame).Release()
		if err != nil {
			c.stats.Failed.Add(1)
			c.log.Debug().Err(err).Msg("frame failed downstream")
		}
		fl.done()
	}
	for {
		if !fl.wait(ctx) {
			return nil
		}
		f, ok := sl.take(ctx)
		if !ok {
			fl.done()
			stopGrab()
			wg.Wait()
			return grabErr
		}
		m := pipeline.NewMessage(nil)
		m.Key = c.cfg.id
		m.SourceTime = f.Time
		m.Fields = map[string]any{"frame": f, "camera": c.cfg.id, "frame_id": f.ID}
		m.Meta = map[string]string{"camera": c.cfg.id}
		m.Track(settle, f)
		c.stats.Emitted.Add(1)
		if err := out.Emit(m); err != nil {
			return fmt.Errorf("camera %s: %w", c.cfg.id, err)
		}
	}
}

// logStats logs the counters.
func (c *Camera) logStats(msg string) {
	s := &c.stats
	ev := c.log.Info().Str("camera", c.cfg.id).Uint64("captured", s.Captured.Load()).
		Uint64("emitted", s.Emitted.Load()).Uint64("skipped", s.Skipped.Load()).
		Uint64("capped", s.Capped.Load()).Uint64("failed", s.Failed.Load()).
		Uint64("open_failures", s.OpenFailures.Load()).Uint64("reconnects", s.Reconnects.Load())
	ev.Msg(msg)
}

// flow limits how many frames are in the pipeline at once.
type flow struct {
	inFlight atomic.Int32
	max      int32
	free     chan struct{} // signalled when a frame settles
}

// wait reserves a place, blocking while max frames are in flight; false when
// ctx is done.
func (f *flow) wait(ctx context.Context) bool {
	for {
		if n := f.inFlight.Load(); n < f.max && f.inFlight.CompareAndSwap(n, n+1) {
			return true
		}
		select {
		case <-f.free:
		case <-ctx.Done():
			return false
		}
	}
}

func (f *flow) done() {
	f.inFlight.Add(-1)
	select {
	case f.free <- struct{}{}:
	default:
	}
}

// slot holds the newest captured frame until the emitter takes it.
type slot struct {
	mu    sync.Mutex
	f     *frame.Frame
	ready chan struct{} // a frame was put
	taken chan struct{} // the slot was emptied
	done  chan struct{} // the grabber has finished
}

func newSlot() *slot {
	return &slot{ready: make(chan struct{}, 1), taken: make(chan struct{}, 1), done: make(chan struct{})}
}

func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// swap puts f in the slot and returns the frame it replaced, if any.
func (s *slot) swap(f *frame.Frame) *frame.Frame {
	s.mu.Lock()
	old := s.f
	s.f = f
	s.mu.Unlock()
	signal(s.ready)
	return old
}

// put waits for the slot to be empty, then puts f; false if ctx ended first
// (f is then still the caller's).
func (s *slot) put(ctx context.Context, f *frame.Frame) bool {
	for {
		s.mu.Lock()
		if s.f == nil {
			s.f = f
			s.mu.Unlock()
			signal(s.ready)
			return true
		}
		s.mu.Unlock()
		select {
		case <-s.taken:
		case <-ctx.Done():
			return false
		}
	}
}

// take waits for a frame. ok is false once the grabber has finished and the
// slot is empty, or ctx is done.
func (s *slot) take(ctx context.Context) (*frame.Frame, bool) {
	for {
		s.mu.Lock()
		f := s.f
		s.f = nil
		s.mu.Unlock()
		if f != nil {
			signal(s.taken)
			return f, true
		}
		select {
		case <-s.ready:
		case <-s.done:
			if f := s.drain(); f != nil {
				return f, true
			}
			return nil, false
		case <-ctx.Done():
			return nil, false
		}
	}
}

func (s *slot) drain() *frame.Frame {
	s.mu.Lock()
	defer s.mu.Unlock()
	f := s.f
	s.f = nil
	return f
}

func (s *slot) close() { close(s.done) }

// errNoFrame says a capture opened but gave no frame.
var errNoFrame = errors.New("opened, but no frame could be read (corrupt or unsupported video?)")
