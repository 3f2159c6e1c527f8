// Package nats is edgeflow's shared NATS connection: the `nats`
// connection type that the nats source and sink refer to by name, and the
// embedded nats-server (with JetStream) that `url: embedded` starts in
// process. Importers that also use nats.go name it natsconn.
//
// A Conn does no I/O when it is built: it dials (or starts the embedded
// server) in Start, so that `edgeflow validate` stays side-effect free.
// Once started it reconnects by itself, forever by default; sources and sinks
// see a disconnected client and wait or fail their writes, never a nil one.
package nats

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/edgeflow/edgeflow/component"
	"github.com/edgeflow/edgeflow/internal/redact"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/rs/zerolog"
)

// embeddedURL is the `url:` value that starts nats-server in process.
const embeddedURL = "embedded"

// Conn is a started or not yet started NATS connection. It is safe for
// concurrent use.
type Conn struct {
	log      zerolog.Logger
	name     string // the client name the server sees
	servers  []string
	embedded *embeddedConfig // nil unless url is embedded
	auth     authConfig
	tls      *tlsConfig
	opts     []nats.Option // reconnect tuning; auth and TLS are added in Start

	mu      sync.Mutex
	nc      *nats.Conn
	srv     *server.Server
	started bool

	key           string // the connection's name in the pipeline file, for metrics
	reconnects    atomic.Uint64
	disconnects   atomic.Uint64
	slowConsumers atomic.Uint64
	up            signal // fired on every (re)connect
}

// ErrNotStarted is returned by Client before Start has succeeded.
var ErrNotStarted = errors.New("nats connection not started")

// New builds a Conn from its config. It checks everything it can without
// touching the network or the disk.
func New(conf *component.Config, res *component.Resources) (*Conn, error) {
	c := &Conn{log: res.Logger.With().Str("connection", "nats").Logger(), key: res.Node}
	c.name = conf.String("name")
	if c.name == "" {
		c.name = "edgeflow"
		if res.Pipeline != "" {
			c.name += "/" + res.Pipeline
		}
	}

	url := strings.TrimSpace(conf.String("url"))
	if url == embeddedURL {
		e, err := parseEmbedded(conf, res)
		if err != nil {
			return nil, err
		}
		c.embedded = e
	} else {
		servers, err := parseServers(url)
		if err != nil {
			return nil, conf.Errorf("url", "%v", err)
		}
		// store_dir and embedded_listen describe the embedded server and
		// are ignored here, so that `url: ${NATS_URL:-embedded}` switches
		// between the two with one variable.
		c.servers = servers
	}

	auth, err := parseAuth(conf, res.Dir)
	if err != nil {
		return nil, err
	}
	c.auth = auth
	if c.tls, err = parseTLS(conf, res.Dir); err != nil {
		return nil, err
	}
	if c.embedded != nil && (c.tls != nil || !auth.empty()) {
		return nil, conf.Errorf("url", "the embedded server runs without auth or TLS; credentials and tls apply only to a remote server")
	}

	maxRec := conf.Int("max_reconnects")
	c.opts = []nats.Option{
		nats.Name(c.name),
		nats.Timeout(conf.Duration("connect_timeout")),
		nats.ReconnectWait(conf.Duration("reconnect_wait")),
		nats.ReconnectJitter(conf.Duration("reconnect_jitter"), conf.Duration("reconnect_jitter")),
		nats.MaxReconnects(maxRec),
		nats.ReconnectBufSize(conf.Int("reconnect_buffer")),
		nats.PingInterval(conf.Duration("ping_interval")),
		nats.RetryOnFailedConnect(conf.Bool("retry_on_failed_connect")),
		nats.DisconnectErrHandler(c.onDisconnect),
		nats.ReconnectHandler(c.onReconnect),
		nats.ConnectHandler(c.onConnect),
		nats.ClosedHandler(c.onClosed),
		nats.ErrorHandler(c.onError),
	}
	return c, nil
}

// Start dials the servers, or starts the embedded server and connects to it
// in process. With retry_on_failed_connect (the default) an unreachable
// server is not an error: the connection keeps trying in the background, as
// it does after any later disconnect. Start is idempotent.
func (c *Conn) Start(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.started {
		return nil
	}
	opts := append([]nats.Option(nil), c.opts...)
	url := strings.Join(c.servers, ",")
	if c.embedded != nil {
		srv, err := c.embedded.start(ctx, c.log)
		if err != nil {
			return err
		}
		c.srv = srv
		// In-process: no socket between edgeflow and its own server.
		opts = append(opts, nats.InProcessServer(srv))
		url = srv.ClientURL()
	} else {
		authOpts, err := c.auth.options()
		if err != nil {
			return err
		}
		opts = append(opts, authOpts...)
		if c.tls != nil {
			opts = append(opts, c.tls.options()...)
		}
	}
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		c.shutdownServer()
		return fmt.Errorf("nats connect %s: %w", redact.Text(url), err)
	}
	c.nc, c.started = nc, true
	if nc.IsConnected() {
		c.log.Info().Str("server", nc.ConnectedUrlRedacted()).Str("name", c.name).Msg("nats connected")
	} else {
		c.log.Warn().Str("servers", redact.Text(url)).Msg("nats server unreachable; retrying in the background")
	}
	return nil
}

// Client returns the underlying nats.go connection. It fails before Start.
func (c *Conn) Client() (*nats.Conn, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.nc == nil {
		return nil, ErrNotStarted
	}
	return c.nc, nil
}

// Stats are counters of connection events since Start.
type Stats struct {
	Reconnects, Disconnects, SlowConsumers uint64
}

// Stats returns the connection's event counters.
func (c *Conn) Stats() Stats {
	return Stats{Reconnects: c.reconnects.Load(), Disconnects: c.disconnects.Load(),
		SlowConsumers: c.slowConsumers.Load()}
}

// Close flushes what is buffered (acknowledgements above all), closes the
// client and stops the embedded server. ctx bounds the flush.
func (c *Conn) Close(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	var err error
	if c.nc != nil {
		if c.nc.IsConnected() {
			fctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			if ferr := c.nc.FlushWithContext(fctx); ferr != nil {
				err = fmt.Errorf("nats flush on close: %w", ferr)
			}
			cancel()
		}
		c.nc.Close()
		c.nc = nil
	}
	c.shutdownServer()
	c.started = false
	return err
}

func (c *Conn) shutdownServer() {
	if c.srv == nil {
		return
	}
	c.srv.Shutdown()
	c.srv.WaitForShutdown()
	c.log.Info().Msg("embedded nats-server stopped")
	c.srv = nil
}
