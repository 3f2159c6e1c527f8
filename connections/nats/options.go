package nats

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/edgeflow/edgeflow/component"
	"github.com/edgeflow/edgeflow/internal/redact"
	"github.com/nats-io/nats.go"
)

var fields = []component.Field{
	{Name: "url", Type: component.String, Default: "nats://127.0.0.1:4222",
		Description: "Server URL, several comma-separated for a cluster, or `embedded` to run nats-server in process with JetStream.",
		Example:     "nats://10.0.0.5:4222,nats://10.0.0.6:4222"},
	{Name: "name", Type: component.String, Optional: true,
		Description: "Client name shown in the server's monitoring (default `edgeflow/<pipeline>`)."},

	{Name: "user", Type: component.String, Optional: true, Description: "User name for user/password auth."},
	{Name: "password", Type: component.String, Optional: true,
		Description: "Password for user/password auth. Write `${NATS_PASSWORD}` to take it from the environment."},
	{Name: "password_file", Type: component.String, Optional: true,
		Description: "File holding the password (relative to the pipeline file)."},
	{Name: "token", Type: component.String, Optional: true,
		Description: "Auth token. Write `${NATS_TOKEN}` to take it from the environment."},
	{Name: "token_file", Type: component.String, Optional: true,
		Description: "File holding the auth token (relative to the pipeline file)."},
	{Name: "nkey_file", Type: component.String, Optional: true,
		Description: "NKey seed file (a user seed starting with SU)."},
	{Name: "creds_file", Type: component.String, Optional: true,
		Description: "Credentials file (JWT and NKey seed), as `nsc` writes it."},

	{Name: "tls", Type: component.Object, Optional: true,
		Description: "TLS to the server. Implied by a `tls://` URL; any of these keys also turns it on.",
		Fields: []component.Field{
			{Name: "ca_file", Type: component.String, Optional: true, Description: "CA certificates (PEM) to verify the server with, instead of the system roots."},
			{Name: "cert_file", Type: component.String, Optional: true, Description: "Client certificate (PEM) for mutual TLS; needs key_file."},
			{Name: "key_file", Type: component.String, Optional: true, Description: "Client private key (PEM); needs cert_file."},
		}},

	{Name: "connect_timeout", Type: component.Duration, Default: "5s", Description: "Timeout of one connection attempt."},
	{Name: "retry_on_failed_connect", Type: component.Bool, Default: true,
		Description: "When the server is unreachable at start, keep trying in the background instead of failing the pipeline (edge boxes often boot before the network)."},
	{Name: "reconnect_wait", Type: component.Duration, Default: "2s", Description: "Pause between reconnect attempts to the same server."},
	{Name: "reconnect_jitter", Type: component.Duration, Default: "500ms", Description: "Random extra pause, so that many clients do not reconnect in step."},
	{Name: "max_reconnects", Type: component.Int, Default: -1, Min: component.Bound(-1),
		Description: "Reconnect attempts before giving up; -1 never gives up."},
	{Name: "reconnect_buffer", Type: component.Int, Default: 8 << 20, Min: component.Bound(-1),
		Description: "Bytes of outgoing data (publishes, acks) buffered while reconnecting; -1 disables buffering so writes fail at once."},
	{Name: "ping_interval", Type: component.Duration, Default: "20s",
		Description: "How often the client pings the server; two missed pongs count as a disconnect."},

	{Name: "store_dir", Type: component.String, Optional: true,
		Description: "Embedded server only (ignored for other urls): JetStream store directory (relative to the pipeline file). Default: `<user cache dir>/edgeflow/jetstream/<pipeline>`, or `./data/jetstream` next to the pipeline file when there is no cache dir."},
	{Name: "embedded_listen", Type: component.String, Default: "127.0.0.1:4222",
		Description: "Embedded server only (ignored for other urls): host:port other programs connect to, or `off` for in-process use only."},
}

// authConfig holds the credentials; files are read in Start, not New.
type authConfig struct {
	user, password, passwordFile string
	token, tokenFile             string
	nkeyFile, credsFile          string
}

func (a authConfig) empty() bool { return a == authConfig{} }

func parseAuth(conf *component.Config, dir string) (authConfig, error) {
	path := func(f string) string {
		p := conf.String(f)
		if p != "" && !filepath.IsAbs(p) {
			p = filepath.Join(dir, p)
		}
		return p
	}
	a := authConfig{
		user: conf.String("user"), password: conf.String("password"), passwordFile: path("password_file"),
		token: conf.String("token"), tokenFile: path("token_file"),
		nkeyFile: path("nkey_file"), credsFile: path("creds_file"),
	}
	// The server accepts one auth method per connection; two given is a
	// mistake worth naming rather than a silent precedence.
	var methods []string
	if a.user != "" || a.password != "" || a.passwordFile != "" {
		methods = append(methods, "user")
	}
	if a.token != "" || a.tokenFile != "" {
		methods = append(methods, "token")
	}
	if a.nkeyFile != "" {
		methods = append(methods, "nkey_file")
	}
	if a.credsFile != "" {
		methods = append(methods, "creds_file")
	}
	switch {
	case len(methods) > 1:
		return a, conf.Errorf(methods[1], "choose one auth method; %s and %s are both given", methods[0], methods[1])
	case a.password != "" && a.passwordFile != "":
		return a, conf.Errorf("password_file", "give password or password_file, not both")
	case a.token != "" && a.tokenFile != "":
		return a, conf.Errorf("token_file", "give token or token_file, not both")
	case (a.password != "" || a.passwordFile != "") && a.user == "":
		return a, conf.Errorf("password", "a password needs a user")
	}
	return a, nil
}

// options turns the credentials into nats.go options, reading secret files.
func (a authConfig) options() ([]nats.Option, error) {
	var opts []nats.Option
	switch {
	case a.user != "":
		pw := a.password
		if a.passwordFile != "" {
			var err error
			if pw, err = readSecret(a.passwordFile); err != nil {
				return nil, fmt.Errorf("nats password: %w", err)
			}
		}
		opts = append(opts, nats.UserInfo(a.user, pw))
	case a.token != "" || a.tokenFile != "":
		tok := a.token
		if a.tokenFile != "" {
			var err error
			if tok, err = readSecret(a.tokenFile); err != nil {
				return nil, fmt.Errorf("nats token: %w", err)
			}
		}
		opts = append(opts, nats.Token(tok))
	case a.nkeyFile != "":
		opt, err := nats.NkeyOptionFromSeed(a.nkeyFile)
		if err != nil {
			return nil, fmt.Errorf("nats nkey_file %s: %w", a.nkeyFile, err)
		}
		opts = append(opts, opt)
	case a.credsFile != "":
		// nats.go reads the file at each (re)connect, so rotated
		// credentials are picked up without a restart.
		opts = append(opts, nats.UserCredentials(a.credsFile))
	}
	return opts, nil
}

type tlsConfig struct{ ca, cert, key string }

func parseTLS(conf *component.Config, dir string) (*tlsConfig, error) {
	sub := conf.Object("tls")
	if sub == nil {
		return nil, nil
	}
	path := func(f string) string {
		p := sub.String(f)
		if p != "" && !filepath.IsAbs(p) {
			p = filepath.Join(dir, p)
		}
		return p
	}
	t := &tlsConfig{ca: path("ca_file"), cert: path("cert_file"), key: path("key_file")}
	if (t.cert == "") != (t.key == "") {
		return nil, sub.Errorf("cert_file", "cert_file and key_file go together")
	}
	return t, nil
}

func (t *tlsConfig) options() []nats.Option {
	opts := []nats.Option{nats.Secure()}
	if t.ca != "" {
		opts = append(opts, nats.RootCAs(t.ca))
	}
	if t.cert != "" {
		opts = append(opts, nats.ClientCert(t.cert, t.key))
	}
	return opts
}

// parseServers splits a comma-separated server list and checks each entry.
func parseServers(url string) ([]string, error) {
	var out []string
	for s := range strings.SplitSeq(url, ",") {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		if s == embeddedURL {
			return nil, errors.New("`embedded` cannot be combined with other servers")
		}
		scheme, rest, ok := strings.Cut(s, "://")
		if !ok {
			return nil, fmt.Errorf("server %q: want a URL such as nats://host:4222", redact.Text(s))
		}
		switch scheme {
		case "nats", "tls", "ws", "wss":
		default:
			return nil, fmt.Errorf("server %q: unknown scheme %q (want nats, tls, ws or wss)", redact.Text(s), scheme)
		}
		if rest == "" || strings.HasPrefix(rest, ":") {
			return nil, fmt.Errorf("server %q has no host", redact.Text(s))
		}
		out = append(out, s)
	}
	if len(out) == 0 {
		return nil, errors.New("no server given")
	}
	return out, nil
}

// readSecret reads a token or password file, trimming the final newline
// that editors add.
func readSecret(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("read %s: %w", path, err)
	}
	s := strings.TrimRight(string(b), "\r\n")
	if s == "" {
		return "", fmt.Errorf("%s is empty", path)
	}
	return s, nil
}
