package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"runtime/pprof"
	"sync"
	"syscall"
	"time"

	"github.com/KimMachineGun/automemlimit/memlimit"
	"github.com/edgeflow/edgeflow/config"
	"github.com/edgeflow/edgeflow/internal/admin"
	"github.com/edgeflow/edgeflow/internal/reload"
	"github.com/edgeflow/edgeflow/pipeline"
	"github.com/rs/zerolog"
	"github.com/spf13/cobra"
)

// exitAborted is the exit status after a second signal cut the drain short.
const exitAborted = 130

// exitDrainIncomplete is the exit status after drain_timeout cut the drain
// short: messages in flight were nacked, not delivered.
const exitDrainIncomplete = 3

// runOptions are the flags of run.
type runOptions struct {
	metricsListen string
	noMetrics     bool
	watch         bool
	cpuProfile    string
}

// newRunCmd builds run.
func newRunCmd(g *globalOptions) *cobra.Command {
	o := &runOptions{}
	cmd := &cobra.Command{
		Use:   "run FILE",
		Short: "Run a pipeline until its sources end or it is told to stop",
		Long: `run loads and builds the pipeline, starts the admin HTTP server (a live
dashboard at /, /metrics, /healthz, /readyz; loopback by default) unless
metrics are disabled, and runs until every source has finished and everything
has drained.

SIGHUP (and, with --watch, any change of the file) re-reads the pipeline file:
an invalid file is rejected with its errors and the running pipeline goes on;
a valid one replaces the running graph after it has drained, keeping
unchanged connections (broker sessions, unacknowledged messages) and
unchanged stages and sinks (loaded models). SIGHUP also reloads the model files.

SIGINT or SIGTERM stops the sources and drains in-flight messages (bounded by
drain_timeout), then exits 0. If drain_timeout runs out first, the messages
still in flight are nacked and the exit status is 3. A second signal aborts at
once, exit status 130: undelivered messages were never acknowledged, so brokers
redeliver them. A pipeline that fails exits 1.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error { return runPipeline(cmd, g, o, args[0]) },
	}
	cmd.Flags().StringVar(&o.metricsListen, "metrics-listen", "",
		"host:port of the admin server, overriding the file's metrics.listen (port 0 picks one)")
	cmd.Flags().BoolVar(&o.noMetrics, "no-metrics", false, "do not start the admin server")
	cmd.Flags().BoolVar(&o.watch, "watch", false, "reload the pipeline when its file changes (checked every second)")
	cmd.Flags().StringVar(&o.cpuProfile, "cpuprofile", "", "write a Go CPU profile of the run to this file (for `go tool pprof`)")
	return cmd
}

func runPipeline(cmd *cobra.Command, g *globalOptions, o *runOptions, path string) error {
	f, err := config.Load(path)
	if err != nil {
		printErrors(cmd.ErrOrStderr(), err)
		return exitError{1}
	}
	log, err := g.logger(f.Logging.Level, f.Logging.Format)
	if err != nil {
		return err
	}
	// What validate checks of expressions against fields, run refuses too:
	// a type error found at the first message would dead-letter them all.
	if _, errs := f.CheckFields(log); len(errs) > 0 {
		printErrors(cmd.ErrOrStderr(), errors.Join(errs...))
		return exitError{1}
	}
	log = log.With().Str("pipeline", f.Name).Logger()
	limitGoMemory(log, memlimit.FromCgroup)
	if o.cpuProfile != "" {
		pf, err := os.Create(o.cpuProfile)
		if err != nil {
			return fmt.Errorf("cpuprofile: %w", err)
		}
		if err := pprof.StartCPUProfile(pf); err != nil {
			pf.Close()
			return fmt.Errorf("cpuprofile: %w", err)
		}
		defer func() {
			pprof.StopCPUProfile()
			if err := pf.Close(); err != nil {
				log.Error().Err(err).Msg("writing the cpu profile")
			}
		}()
	}

	ctx, stop := context.WithCancel(cmd.Context())
	defer stop()
	signals := newSignalWatcher(stop, log)
	defer signals.Close()

	runner, err := reload.New(ctx, f, log)
	if err != nil {
		printErrors(cmd.ErrOrStderr(), err)
		return exitError{1}
	}
	defer func() {
		// The pipeline's own components are closed by Run; these are the
		// shared connections.
		if err := runner.Close(context.WithoutCancel(ctx)); err != nil {
			log.Error().Err(err).Msg("closing connections")
		}
	}()

	enabled, addr := f.Metrics.Enabled, f.Metrics.Listen
	if o.metricsListen != "" {
		enabled, addr = true, o.metricsListen
	}
	if o.noMetrics {
		enabled = false
	}
	if enabled {
		srv, err := admin.New(runner, admin.Options{Addr: addr, Version: versionString(), Logger: &log,
			Collectors: nativeCollectors()})
		if err != nil {
			return err
		}
		// The admin server outlives the drain, so that /readyz can be seen
		// going down and the last metrics scraped; it stops after Run.
		adminCtx, stopAdmin := context.WithCancel(context.WithoutCancel(ctx))
		if err := srv.Start(adminCtx); err != nil {
			stopAdmin()
			return err
		}
		defer func() {
			stopAdmin()
			if err := srv.Wait(); err != nil {
				log.Error().Err(err).Msg("admin server")
			}
		}()
	}

	reloadCtx, stopReloads := context.WithCancel(ctx)
	reloads := watchReloads(reloadCtx, runner, o.watch, log)
	defer func() { stopReloads(); reloads.Wait() }()

	log.Info().Str("file", path).Msg("starting pipeline")
	if err := runner.Run(ctx); err != nil {
		log.Error().Err(err).Msg("pipeline failed")
		if errors.Is(err, pipeline.ErrDrainIncomplete) {
			return exitError{exitDrainIncomplete}
		}
		return exitError{1}
	}
	log.Info().Msg("pipeline finished")
	return nil
}

// signalWatcher turns the first SIGINT or SIGTERM into a graceful stop and
// a second into an abort. Its goroutine ends on Close.
type signalWatcher struct {
	ch   chan os.Signal
	done chan struct{}
	wg   sync.WaitGroup
}

func newSignalWatcher(stop context.CancelFunc, log zerolog.Logger) *signalWatcher {
	w := &signalWatcher{ch: make(chan os.Signal, 2), done: make(chan struct{})}
	signal.Notify(w.ch, syscall.SIGINT, syscall.SIGTERM)
	w.wg.Go(func() {
		select {
		case sig := <-w.ch:
			log.Info().Str("signal", sig.String()).Msg("stopping: draining in-flight messages (signal again to abort)")
			stop()
		case <-w.done:
			return
		}
		select {
		case sig := <-w.ch:
			log.Warn().Str("signal", sig.String()).Msg("aborting without draining")
			fmt.Fprintln(os.Stderr, "edgeflow: aborted")
			os.Exit(exitAborted)
		case <-w.done:
		}
	})
	return w
}

// Close stops watching; signals are handled by the Go runtime again.
func (w *signalWatcher) Close() {
	signal.Stop(w.ch)
	close(w.done)
	w.wg.Wait()
}

// watchReloads reloads the pipeline file and the models on SIGHUP, and
// with watch the file whenever it changes, until ctx is done; Wait returns
// once its goroutines have ended.
func watchReloads(ctx context.Context, runner *reload.Runner, watch bool, log zerolog.Logger) *sync.WaitGroup {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	var wg sync.WaitGroup
	if watch {
		wg.Go(func() { runner.Watch(ctx, time.Second) })
	}
	wg.Go(func() {
		defer signal.Stop(hup)
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				if err := runner.Reload(ctx); err != nil {
					if ctx.Err() == nil {
						reload.LogError(log, err)
					}
				} else {
					log.Info().Msg("pipeline file reloaded on SIGHUP")
				}
				if err := runner.ReloadModels(); err != nil {
					log.Error().Err(err).Msg("model reload on SIGHUP failed; the previous versions keep serving")
				}
			}
		}
	})
	return &wg
}
