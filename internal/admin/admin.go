// Package admin serves the HTTP endpoints of a running pipeline: a live
// dashboard, Prometheus metrics, a liveness probe and a readiness probe.
//
// It listens on loopback by default: an edge box is often on a plant network
// where an open metrics port is somebody else's problem, so exposing it is a
// deliberate choice (`metrics.listen: 0.0.0.0:9464`).
package admin

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/rs/zerolog"
)

// DefaultAddr is where the server listens unless told otherwise.
const DefaultAddr = "127.0.0.1:9464"

// shutdownTimeout bounds how long in-flight scrapes may take once the
// server is asked to stop.
const shutdownTimeout = 5 * time.Second

// Target is what the server reports on; *pipeline.Pipeline implements it.
type Target interface {
	// Metrics returns the collector of the pipeline's own metrics.
	Metrics() prometheus.Collector
	// Ready reports whether the pipeline is running.
	Ready() bool
}

// Options configure a Server. The zero value is usable.
type Options struct {
	// Addr is the listen address (default DefaultAddr). Port 0 picks a
	// free port; Server.Addr tells which.
	Addr string
	// Version is reported by the edgeflow_build_info metric.
	Version string
	// Logger receives the server's own logs (default: discard).
	Logger *zerolog.Logger
	// Collectors are further metrics to serve, such as those of
	// connections and model stages.
	Collectors []prometheus.Collector
}

// Server is the admin HTTP server of one pipeline. Create it with New, then
// Start it once.
type Server struct {
	opts    Options
	log     zerolog.Logger
	handler http.Handler
	srv     *http.Server
	ln      net.Listener
	sampler *sampler
	// stopping is closed when the server shuts down, so that event
	// streams end instead of holding the shutdown up.
	stopping chan struct{}
	done     chan struct{} // closed when the serving goroutine has ended
	err      error         // set before done is closed
}

// New returns a server for target. It registers the target's metrics, the
// Go runtime and process collectors on a registry of its own, so that two
// pipelines in one process (tests) never collide on the global one.
func New(target Target, opts Options) (*Server, error) {
	if opts.Addr == "" {
		opts.Addr = DefaultAddr
	}
	s := &Server{opts: opts, log: zerolog.Nop(), done: make(chan struct{}), stopping: make(chan struct{})}
	if opts.Logger != nil {
		s.log = opts.Logger.With().Str("component", "admin").Logger()
	}
	version := opts.Version
	if version == "" {
		version = "unknown"
	}
	reg := prometheus.NewRegistry()
	for _, c := range []prometheus.Collector{
		target.Metrics(),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "edgeflow_pipeline_ready",
			Help: "1 while the pipeline is running and every node has started, else 0.",
		}, func() float64 {
			if target.Ready() {
				return 1
			}
			return 0
		}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name:        "edgeflow_build_info",
			Help:        "Always 1; the version label tells which edgeflow is running.",
			ConstLabels: prometheus.Labels{"version": version},
		}, func() float64 { return 1 }),
	} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("admin: register metrics: %w", err)
		}
	}
	// The dashboard samples a registry without the Go and process
	// collectors, which it does not show and which cost most to gather.
	dash := prometheus.NewRegistry()
	if err := dash.Register(target.Metrics()); err != nil {
		return nil, fmt.Errorf("admin: register metrics: %w", err)
	}
	for _, c := range opts.Collectors {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("admin: register metrics: %w", err)
		}
		if err := dash.Register(c); err != nil {
			return nil, fmt.Errorf("admin: register metrics: %w", err)
		}
	}
	s.sampler = newSampler(target, dash, version)

	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		ErrorLog: promLogger{s.log},
		Registry: reg, // counts its own scrape errors
	}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		// Liveness: answering at all is the signal.
		writeText(w, http.StatusOK, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if target.Ready() {
			writeText(w, http.StatusOK, "ready")
			return
		}
		writeText(w, http.StatusServiceUnavailable, "not ready")
	})
	s.routeDashboard(mux)
	s.handler = mux
	return s, nil
}

// Handler returns the server's routes, for tests and for embedding.
func (s *Server) Handler() http.Handler { return s.handler }

// Start listens, then serves in a goroutine of its own until ctx is done,
// when it shuts down gracefully. A listen error (the port is taken) is
// returned here rather than later. Wait tells when serving has ended.
func (s *Server) Start(ctx context.Context) error {
	if s.srv != nil {
		return errors.New("admin: server already started")
	}
	ln, err := net.Listen("tcp", s.opts.Addr)
	if err != nil {
		return fmt.Errorf("admin: listen on %s: %w", s.opts.Addr, err)
	}
	s.ln = ln
	s.srv = &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          log.New(s.log, "", 0), // net/http's own complaints, to zerolog not stderr
	}
	s.log.Info().Str("addr", ln.Addr().String()).Msg("admin server listening")
	go s.serve(ctx)
	return nil
}

func (s *Server) serve(ctx context.Context) {
	defer close(s.done)
	sampleCtx, stopSampling := context.WithCancel(ctx)
	sampled := make(chan struct{})
	go func() { defer close(sampled); s.sampler.run(sampleCtx) }()
	defer func() { stopSampling(); <-sampled }()
	served := make(chan error, 1)
	go func() { served <- s.srv.Serve(s.ln) }()
	select {
	case err := <-served:
		// Serve only returns early on a broken listener.
		close(s.stopping)
		s.err = fmt.Errorf("admin: serve: %w", err)
		return
	case <-ctx.Done():
	}
	close(s.stopping) // event streams end, so the shutdown need not wait for them
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
	defer cancel()
	if err := s.srv.Shutdown(sctx); err != nil {
		s.err = fmt.Errorf("admin: shutdown: %w", err)
		s.srv.Close()
	}
	if err := <-served; err != nil && !errors.Is(err, http.ErrServerClosed) {
		s.err = errors.Join(s.err, fmt.Errorf("admin: serve: %w", err))
	}
	s.log.Debug().Msg("admin server stopped")
}

// Addr returns the address the server listens on, or "" before Start.
func (s *Server) Addr() string {
	if s.ln == nil {
		return ""
	}
	return s.ln.Addr().String()
}

// Wait blocks until the server has stopped (its context is done and
// in-flight requests finished) and returns what went wrong, if anything.
// It must only be called after a successful Start.
func (s *Server) Wait() error {
	<-s.done
	return s.err
}

func writeText(w http.ResponseWriter, code int, body string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	fmt.Fprintln(w, body)
}

// promLogger hands promhttp's scrape errors to zerolog.
type promLogger struct{ log zerolog.Logger }

func (l promLogger) Println(v ...any) { l.log.Error().Msg(fmt.Sprint(v...)) }
