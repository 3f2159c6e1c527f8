//go:build gocv

package annotate

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"path/filepath"
	"sync"

	"github.com/edgeflow/edgeflow/component"
	"github.com/edgeflow/edgeflow/pipeline"
	"github.com/edgeflow/edgeflow/vision"
	"github.com/edgeflow/edgeflow/vision/frame"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
)

func init() { build = newSink }

// options are the parsed configuration.
type options struct {
	dir        string
	every      uint64
	keep       int
	listen     string
	quality    int
	color      *[3]uint8 // nil: a colour per class
	thickness  int
	fontScale  float64
	frameField string
	detsField  string
}

// Sink is the annotate sink. It implements pipeline.Sink, pipeline.Closer
// and Metrics for `edgeflow run`.
type Sink struct {
	opts    options
	log     zerolog.Logger
	metrics *metrics

	mail   *mailbox
	stream *broadcaster

	startOnce sync.Once
	srv       *server // nil until started, or when listen is off or failed
	workDone  chan struct{}

	mu     sync.Mutex
	counts map[string]uint64 // frames seen per camera, for every
	closed bool
}

func newSink(conf *component.Config, res *component.Resources) (any, error) {
	o := options{
		every: uint64(conf.Int("every")), keep: conf.Int("keep"), quality: conf.Int("quality"),
		thickness: conf.Int("thickness"), fontScale: conf.Float("font_scale"),
		frameField: conf.String("frame_field"), detsField: conf.String("detections_field"),
	}
	if conf.Has("dir") {
		o.dir = conf.String("dir")
		if o.dir == "" {
			return nil, conf.Errorf("dir", "empty directory name")
		}
		if !filepath.IsAbs(o.dir) && res.Dir != "" {
			o.dir = filepath.Join(res.Dir, o.dir)
		}
	}
	if conf.Has("listen") {
		o.listen = conf.String("listen")
		if err := checkListen(o.listen, conf.Bool("allow_remote")); err != nil {
			return nil, conf.Errorf("listen", "%v", err)
		}
	}
	if o.dir == "" && o.listen == "" {
		return nil, conf.Errorf("", "give dir (JPEG files), listen (MJPEG stream) or both")
	}
	if conf.Has("color") {
		c := conf.FloatList("color")
		if len(c) != 3 {
			return nil, conf.Errorf("color", "want three values R,G,B, got %d", len(c))
		}
		var rgb [3]uint8
		for i, v := range c {
			if v < 0 || v > 255 || v != math.Trunc(v) {
				return nil, conf.Errorf("color", "colour values are integers 0..255, got %v", v)
			}
			rgb[i] = uint8(v)
		}
		o.color = &rgb
	}
	return &Sink{
		opts: o, log: res.Logger, metrics: newMetrics(res.Pipeline, res.Node),
		mail: newMailbox(), stream: newBroadcaster(), counts: map[string]uint64{},
	}, nil
}

// Metrics implements the provider `edgeflow run` registers.
func (s *Sink) Metrics() prometheus.Collector { return s.metrics }

// Addr is the address the MJPEG server listens on, once it has started
// (after the first frame); "" before, or when there is none.
func (s *Sink) Addr() string {
	if srv := s.server(); srv != nil {
		return srv.addr
	}
	return ""
}

func (s *Sink) server() *server {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.srv
}

// Write implements pipeline.Sink. It queues the frame for drawing and
// returns at once; see the package doc for why failures to draw or write
// are not returned.
func (s *Sink) Write(_ context.Context, m *pipeline.Message) error {
	f, err := frame.From(m.Fields[s.opts.frameField])
	if err != nil {
		return fmt.Errorf("annotate: field %q: %w (keep the frame in the detect stage's keep list)", s.opts.frameField, err)
	}
	dets, err := detectionsFrom(m.Fields[s.opts.detsField])
	if err != nil {
		return fmt.Errorf("annotate: field %q: %w", s.opts.detsField, err)
	}
	s.startOnce.Do(s.start)
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return fmt.Errorf("annotate: sink is closed")
	}
	n := s.counts[f.Camera]
	s.counts[f.Camera] = n + 1
	s.mu.Unlock()
	file := s.opts.dir != "" && n%s.opts.every == 0
	if !file && s.stream.wanted() == 0 {
		s.metrics.frames.WithLabelValues("idle").Inc()
		return nil
	}
	// The drawing goroutine reads the Mat after this message may have been
	// settled (and the Mat returned to the camera's pool): hold a reference.
	f.Retain()
	if s.mail.put(job{f: f, dets: dets, file: file}) {
		s.metrics.frames.WithLabelValues("dropped").Inc()
	}
	return nil
}

// start runs the drawing goroutine and, with listen, the HTTP server.
func (s *Sink) start() {
	if s.opts.listen != "" {
		srv, err := startServer(s.opts.listen, s.stream, s.log)
		if err != nil {
			// Detections still flow; only the preview is missing.
			s.log.Error().Err(err).Str("listen", s.opts.listen).Msg("annotate: MJPEG server not started")
		} else {
			s.mu.Lock()
			s.srv = srv
			s.mu.Unlock()
			s.log.Info().Str("url", "http://"+srv.addr+"/").Msg("annotate: MJPEG stream listening")
		}
	}
	s.workDone = make(chan struct{})
	w := &worker{opts: &s.opts, log: s.log, metrics: s.metrics, stream: s.stream}
	go func() {
		defer close(s.workDone)
		w.run(s.mail)
	}()
}

// Close implements pipeline.Closer: it draws the frame still waiting (so
// the last file is written), stops the worker and shuts the server down,
// ending open streams.
func (s *Sink) Close(ctx context.Context) error {
	s.mu.Lock()
	s.closed = true
	srv := s.srv
	s.mu.Unlock()
	s.startOnce.Do(func() {}) // never start after Close
	s.mail.close()
	if s.workDone != nil {
		select {
		case <-s.workDone:
		case <-ctx.Done():
			return fmt.Errorf("annotate: drawing did not finish: %w", ctx.Err())
		}
	}
	s.stream.close()
	if srv != nil {
		return srv.shutdown(ctx)
	}
	return nil
}

// detectionsFrom accepts the detect stage's []vision.Detection, or the same
// list after a JSON round trip ([]any of objects).
func detectionsFrom(v any) ([]vision.Detection, error) {
	switch d := v.(type) {
	case nil:
		return nil, nil
	case []vision.Detection:
		return d, nil
	case []any:
		raw, err := json.Marshal(d)
		if err != nil {
			return nil, err
		}
		var out []vision.Detection
		if err := json.Unmarshal(raw, &out); err != nil {
			return nil, fmt.Errorf("not a list of detections: %w", err)
		}
		return out, nil
	}
	return nil, fmt.Errorf("holds %T, want detections", v)
}
