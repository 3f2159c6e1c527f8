package mqtt

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/edgeflow/edgeflow/component"
	"github.com/edgeflow/edgeflow/internal/redact"
)

// Embedded is the url value that starts a broker inside the process.
const Embedded = "embedded"

// Options configure a Conn. Config fields map one to one (see fields).
type Options struct {
	URL          string
	ClientID     string
	Username     string
	Password     string
	PasswordFile string // read in Start, so `validate` works without secrets
	PasswordEnv  string // name of an environment variable, read in Start
	TLS          *TLSOptions
	Keepalive    time.Duration
	CleanSession bool
	// ConnectTimeout bounds one attempt: TCP/TLS dial plus CONNACK.
	ConnectTimeout time.Duration
	// ReconnectMin and ReconnectMax bound the jittered exponential backoff
	// between connection attempts.
	ReconnectMin, ReconnectMax time.Duration
	// ConnectRequired makes Start fail when the first attempt fails;
	// otherwise Start returns and attempts continue in the background (an
	// edge box often boots before its network).
	ConnectRequired bool
	// RedeliveryDelay is how long after a message is left unacknowledged
	// (nacked, or arrived with no one to take it) the connection reconnects
	// so that the broker redelivers it. See docs/mqtt.md.
	RedeliveryDelay time.Duration
	// EmbeddedListen is the address the embedded broker listens on.
	EmbeddedListen string
}

// TLSOptions are file paths read in Start.
type TLSOptions struct {
	CAFile, CertFile, KeyFile, ServerName string
	InsecureSkipVerify                    bool
}

// fields is the config spec of the `mqtt` connection type.
var fields = []component.Field{
	{Name: "url", Type: component.String, Example: "tcp://127.0.0.1:1883",
		Description: "Broker address: tcp://host:port, ssl://host:port, ws://host:port/path, or `embedded` to run a broker inside edgeflow."},
	{Name: "client_id", Type: component.String, Optional: true,
		Description: "MQTT client id. Must be stable across restarts: the broker keeps the persistent session (subscriptions and unacknowledged messages) under it. Required unless clean_session is true or url is embedded (default there: edgeflow-<connection name>)."},
	{Name: "username", Type: component.String, Optional: true, Description: "User name."},
	{Name: "password", Type: component.String, Optional: true, Description: "Password (prefer password_file or password_env)."},
	{Name: "password_file", Type: component.String, Optional: true, Description: "File holding the password (or token); trailing newlines are trimmed. Relative to the pipeline file."},
	{Name: "password_env", Type: component.String, Optional: true, Description: "Environment variable holding the password (or token)."},
	{Name: "tls", Type: component.Object, Optional: true, Description: "TLS settings for ssl:// and wss:// urls.",
		Fields: []component.Field{
			{Name: "ca_file", Type: component.String, Optional: true, Description: "PEM file of CAs to trust instead of the system pool."},
			{Name: "cert_file", Type: component.String, Optional: true, Description: "PEM client certificate (with key_file)."},
			{Name: "key_file", Type: component.String, Optional: true, Description: "PEM client key (with cert_file)."},
			{Name: "server_name", Type: component.String, Optional: true, Description: "Name to verify the broker's certificate against, if not the url's host."},
			{Name: "insecure_skip_verify", Type: component.Bool, Default: false, Description: "Do not verify the broker's certificate (testing only)."},
		}},
	{Name: "keepalive", Type: component.Duration, Default: "30s", Description: "MQTT keepalive; a dead link is noticed after about 1.5x this."},
	{Name: "clean_session", Type: component.Bool, Default: false,
		Description: "Start with a fresh session on every connect. The default (false) keeps a persistent session so the broker holds messages while edgeflow is away and redelivers unacknowledged ones."},
	{Name: "connect_timeout", Type: component.Duration, Default: "10s", Description: "Bound on one connection attempt."},
	{Name: "reconnect_min", Type: component.Duration, Default: "250ms", Description: "First pause between connection attempts."},
	{Name: "reconnect_max", Type: component.Duration, Default: "10s", Description: "Cap of the doubling, jittered pause between attempts."},
	{Name: "connect_required", Type: component.Bool, Default: false,
		Description: "Fail at start-up when the broker cannot be reached. By default edgeflow starts and keeps trying."},
	{Name: "redelivery_delay", Type: component.Duration, Default: "5s",
		Description: "After a message fails downstream (and is therefore not acknowledged), reconnect this long later so the broker redelivers it. MQTT 3.1.1 brokers redeliver only on reconnect."},
	{Name: "embedded_listen", Type: component.String, Default: "127.0.0.1:1883", Description: "Listen address of the embedded broker (url: embedded)."},
}

// optionsFromConfig reads Options from a parsed `mqtt` connection config.
// It checks what can be checked without I/O.
func optionsFromConfig(conf *component.Config, dir string) (Options, error) {
	o := Options{
		URL: conf.String("url"), ClientID: conf.String("client_id"),
		Username: conf.String("username"), Password: conf.String("password"),
		PasswordFile: conf.String("password_file"), PasswordEnv: conf.String("password_env"),
		Keepalive: conf.Duration("keepalive"), CleanSession: conf.Bool("clean_session"),
		ConnectTimeout: conf.Duration("connect_timeout"),
		ReconnectMin:   conf.Duration("reconnect_min"), ReconnectMax: conf.Duration("reconnect_max"),
		ConnectRequired: conf.Bool("connect_required"), RedeliveryDelay: conf.Duration("redelivery_delay"),
		EmbeddedListen: conf.String("embedded_listen"),
	}
	if t := conf.Object("tls"); t != nil {
		o.TLS = &TLSOptions{CAFile: rel(dir, t.String("ca_file")), CertFile: rel(dir, t.String("cert_file")),
			KeyFile: rel(dir, t.String("key_file")), ServerName: t.String("server_name"),
			InsecureSkipVerify: t.Bool("insecure_skip_verify")}
		if (o.TLS.CertFile == "") != (o.TLS.KeyFile == "") {
			return o, conf.Errorf("tls", "cert_file and key_file go together")
		}
	}
	o.PasswordFile = rel(dir, o.PasswordFile)
	if err := o.check(); err != nil {
		return o, conf.Errorf(err.field, "%s", err.msg)
	}
	return o, nil
}

type optErr struct{ field, msg string }

func (o *Options) check() *optErr {
	if o.URL != Embedded {
		u, err := url.Parse(o.URL)
		if err != nil || u.Host == "" {
			return &optErr{"url", fmt.Sprintf("%q is not a broker url (want tcp://host:1883, ssl://, ws://, wss:// or embedded)", redact.Text(o.URL))}
		}
		switch u.Scheme {
		case "tcp", "mqtt", "ssl", "tls", "mqtts", "ws", "wss":
		default:
			return &optErr{"url", fmt.Sprintf("unsupported scheme %q (want tcp, ssl, ws or wss)", u.Scheme)}
		}
	}
	if o.ClientID == "" && !o.CleanSession && o.URL != Embedded {
		return &optErr{"client_id", "a persistent session (clean_session: false) needs a stable client_id"}
	}
	n := 0
	for _, s := range []string{o.Password, o.PasswordFile, o.PasswordEnv} {
		if s != "" {
			n++
		}
	}
	if n > 1 {
		return &optErr{"password", "give only one of password, password_file and password_env"}
	}
	if o.ReconnectMax < o.ReconnectMin {
		return &optErr{"reconnect_max", "reconnect_max is below reconnect_min"}
	}
	return nil
}

func rel(dir, p string) string {
	if p == "" || dir == "" || strings.HasPrefix(p, "/") {
		return p
	}
	return dir + "/" + p
}

// secret returns the password from whichever source was configured.
func (o *Options) secret() (string, error) {
	switch {
	case o.PasswordFile != "":
		b, err := os.ReadFile(o.PasswordFile)
		if err != nil {
			return "", fmt.Errorf("password_file: %w", err)
		}
		return strings.TrimRight(string(b), "\r\n"), nil
	case o.PasswordEnv != "":
		v, ok := os.LookupEnv(o.PasswordEnv)
		if !ok {
			return "", fmt.Errorf("password_env: environment variable %s is not set", o.PasswordEnv)
		}
		return v, nil
	}
	return o.Password, nil
}

// tlsConfig builds the TLS config, or nil when none was asked for.
func (o *Options) tlsConfig() (*tls.Config, error) {
	if o.TLS == nil {
		return nil, nil
	}
	cfg := &tls.Config{ServerName: o.TLS.ServerName, InsecureSkipVerify: o.TLS.InsecureSkipVerify, MinVersion: tls.VersionTLS12}
	if o.TLS.CAFile != "" {
		pem, err := os.ReadFile(o.TLS.CAFile)
		if err != nil {
			return nil, fmt.Errorf("tls.ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("tls.ca_file %s: no PEM certificates found", o.TLS.CAFile)
		}
		cfg.RootCAs = pool
	}
	if o.TLS.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(o.TLS.CertFile, o.TLS.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("tls client certificate: %w", err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}
