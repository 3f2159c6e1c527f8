package mqtt

import (
	"bytes"
	"crypto/subtle"
	"errors"
	"syscall"

	"fmt"
	"log/slog"
	"sync/atomic"

	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/mochi-mqtt/server/v2/packets"
	"github.com/rs/zerolog"
)

// listenError explains a listener that could not start; the usual cause
// is a broker already installed on the machine, holding port 1883.
func listenError(addr string, err error) error {
	if errors.Is(err, syscall.EADDRINUSE) {
		return fmt.Errorf("embedded broker cannot listen on %s: %w: another program (an MQTT broker already running "+
			"here?) holds the port; set embedded_listen to a free address (such as 127.0.0.1:1884), "+
			"or point url at that broker", addr, err)
	}
	return fmt.Errorf("embedded broker listen on %s: %w", addr, err)
}

// startEmbedded starts a mochi broker on opts.EmbeddedListen, tuned not to
// drop messages under load. mochi pushes every message to an MQTT 3.1.1
// client at once (3.1.1 has no Receive Maximum) into a per-client write
// queue, and drops what does not fit. That queue and the inflight store are
// raised to their maximum (65535), so a subscriber that stops reading (our
// dispatcher applying backpressure stalls the TCP stream) has 65535
// messages of slack before mochi drops; drops are logged.
//
// Giving 3.1.1 clients a send window through mochi's quota (a hook setting
// Receive Maximum) was tried: deliveries stalled after a few hundred
// messages, so it is not used.
//
// Sessions live in memory: they survive clients reconnecting, not a restart
// of edgeflow.
func startEmbedded(opts Options, log zerolog.Logger) (*mochi.Server, *zerologWriter, error) {
	caps := mochi.NewDefaultServerCapabilities()
	caps.MaximumInflight = 65535
	caps.MaximumClientWritesPending = 65535
	caps.ReceiveMaximum = 65535
	caps.MaximumMessageExpiryInterval = 0 // keep queued messages until delivered
	logs := &zerologWriter{log: log.With().Str("component", "embedded-broker").Logger()}
	srv := mochi.New(&mochi.Options{
		Capabilities: caps,
		Logger:       slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	a := &authHook{}
	if opts.Username != "" {
		password, err := opts.secret()
		if err != nil {
			return nil, nil, err
		}
		a.user, a.password = []byte(opts.Username), []byte(password)
	}
	if err := srv.AddHook(a, nil); err != nil {
		return nil, nil, fmt.Errorf("embedded broker: %w", err)
	}
	if err := srv.AddHook(&dropHook{log: log}, nil); err != nil {
		return nil, nil, fmt.Errorf("embedded broker: %w", err)
	}
	if err := srv.AddListener(listeners.NewTCP(listeners.Config{ID: "edgeflow", Address: opts.EmbeddedListen})); err != nil {
		return nil, nil, listenError(opts.EmbeddedListen, err)
	}
	if err := srv.Serve(); err != nil {
		_ = srv.Close()
		return nil, nil, listenError(opts.EmbeddedListen, err)
	}
	log.Info().Str("listen", opts.EmbeddedListen).Msg("embedded mqtt broker started")
	return srv, logs, nil
}

// dropHook logs messages mochi drops, which it otherwise only counts.
type dropHook struct {
	mochi.HookBase
	log zerolog.Logger
}

func (h *dropHook) ID() string { return "edgeflow-drops" }

func (h *dropHook) Provides(b byte) bool { return b == mochi.OnPublishDropped }

func (h *dropHook) OnPublishDropped(cl *mochi.Client, pk packets.Packet) {
	h.log.Error().Str("client", cl.ID).Str("topic", pk.TopicName).Msg("embedded broker dropped a message: client write queue full")
}

// zerologWriter adapts mochi's slog text output to zerolog. mochi's client
// goroutines may still log (closed connections) after Close returns; once
// silenced, that noise is dropped instead of reaching a logger whose owner
// has moved on.
type zerologWriter struct {
	log      zerolog.Logger
	silenced atomic.Bool
}

func (w *zerologWriter) Write(p []byte) (int, error) {
	if !w.silenced.Load() {
		w.log.Warn().Msg(string(bytes.TrimSpace(p)))
	}
	return len(p), nil
}

// authHook admits anyone when user is empty, else only user with password.
// (mochi's own auth hooks would pull in a YAML module this repo does not
// pin.)
type authHook struct {
	mochi.HookBase
	user, password []byte
}

func (h *authHook) ID() string { return "edgeflow-auth" }

func (h *authHook) Provides(b byte) bool {
	return b == mochi.OnConnectAuthenticate || b == mochi.OnACLCheck
}

func (h *authHook) OnConnectAuthenticate(cl *mochi.Client, pk packets.Packet) bool {
	if h.user == nil {
		return true
	}
	return subtle.ConstantTimeCompare(pk.Connect.Username, h.user) == 1 &&
		subtle.ConstantTimeCompare(pk.Connect.Password, h.password) == 1
}

func (h *authHook) OnACLCheck(*mochi.Client, string, bool) bool { return true }
