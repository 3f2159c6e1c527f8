package nats

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/edgeflow/edgeflow/component"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/rs/zerolog"
)

// embeddedConfig is what `url: embedded` starts.
type embeddedConfig struct {
	storeDir   string
	host       string
	port       int
	dontListen bool
	name       string
}

func parseEmbedded(conf *component.Config, res *component.Resources) (*embeddedConfig, error) {
	e := &embeddedConfig{name: "edgeflow"}
	if res.Pipeline != "" {
		e.name = "edgeflow-" + res.Pipeline
	}
	switch dir := conf.String("store_dir"); {
	case dir != "" && filepath.IsAbs(dir):
		e.storeDir = dir
	case dir != "":
		e.storeDir = filepath.Join(res.Dir, dir)
	default:
		e.storeDir = defaultStoreDir(res)
	}
	listen := conf.String("embedded_listen")
	if listen == "off" {
		e.dontListen = true
		return e, nil
	}
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return nil, conf.Errorf("embedded_listen", "want host:port or off: %v", err)
	}
	p, err := strconv.Atoi(port)
	if err != nil || p < 0 || p > 65535 {
		return nil, conf.Errorf("embedded_listen", "bad port %q", port)
	}
	if host == "" {
		host = "0.0.0.0"
	}
	if p == 0 {
		p = server.RANDOM_PORT // nats-server reads 0 as its default port, 4222
	}
	e.host, e.port = host, p
	return e, nil
}

// defaultStoreDir keeps JetStream data per pipeline under the user's cache
// directory (~/.cache on Linux), so that two pipelines on one box never
// share a store; without a cache directory (no $HOME, as in some service
// managers) it falls back to ./data/jetstream beside the pipeline file.
func defaultStoreDir(res *component.Resources) string {
	name := res.Pipeline
	if name == "" {
		name = "default"
	}
	name = strings.Map(func(r rune) rune {
		if r == '/' || r == '\\' || r == os.PathSeparator {
			return '_'
		}
		return r
	}, name)
	if cache, err := os.UserCacheDir(); err == nil && cache != "" {
		return filepath.Join(cache, "edgeflow", "jetstream", name)
	}
	return filepath.Join(res.Dir, "data", "jetstream")
}

// start creates the store directory and runs the server until it accepts
// connections.
func (e *embeddedConfig) start(ctx context.Context, log zerolog.Logger) (*server.Server, error) {
	if err := os.MkdirAll(e.storeDir, 0o750); err != nil {
		return nil, fmt.Errorf("embedded nats-server: store_dir: %w", err)
	}
	opts := &server.Options{
		ServerName: e.name,
		Host:       e.host,
		Port:       e.port,
		DontListen: e.dontListen,
		JetStream:  true,
		StoreDir:   e.storeDir,
		// edgeflow owns the process's signals and its HTTP endpoints.
		NoSigs:   true,
		HTTPPort: 0,
	}
	srv, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("embedded nats-server: %w", err)
	}
	slog := log.With().Str("component", "nats-server").Logger()
	srv.SetLoggerV2(serverLogger{slog}, false, false, false)
	srv.Start()
	wait := 30 * time.Second // JetStream recovers its store before it is ready
	if dl, ok := ctx.Deadline(); ok {
		wait = time.Until(dl)
	}
	if !srv.ReadyForConnections(wait) {
		srv.Shutdown()
		srv.WaitForShutdown()
		return nil, fmt.Errorf("embedded nats-server not ready within %s (is %s:%d taken?)", wait.Round(time.Second), e.host, e.port)
	}
	ev := log.Info().Str("store_dir", e.storeDir)
	if e.dontListen {
		ev.Msg("embedded nats-server started (in-process only)")
	} else {
		ev.Str("listen", srv.ClientURL()).Msg("embedded nats-server started")
	}
	return srv, nil
}

// serverLogger sends nats-server's logs to zerolog. The server's notices
// (its start-up banner above all) go to debug so that edgeflow's own log
// stays readable; warnings and errors keep their level.
type serverLogger struct{ log zerolog.Logger }

func (l serverLogger) Noticef(format string, v ...any) { l.log.Debug().Msgf(format, v...) }
func (l serverLogger) Warnf(format string, v ...any)   { l.log.Warn().Msgf(format, v...) }
func (l serverLogger) Errorf(format string, v ...any)  { l.log.Error().Msgf(format, v...) }
func (l serverLogger) Debugf(format string, v ...any)  { l.log.Trace().Msgf(format, v...) }
func (l serverLogger) Tracef(format string, v ...any)  { l.log.Trace().Msgf(format, v...) }

// Fatalf is logged, not fatal: the library must not exit the process. The
// server shuts itself down after the conditions it reports this way.
func (l serverLogger) Fatalf(format string, v ...any) { l.log.Error().Msgf(format, v...) }
