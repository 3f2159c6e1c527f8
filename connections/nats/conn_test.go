package nats_test

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/edgeflow/edgeflow/component"
	natsconn "github.com/edgeflow/edgeflow/connections/nats"
	"github.com/edgeflow/edgeflow/internal/brokertest"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
	"go.uber.org/goleak"
	"go.yaml.in/yaml/v3"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// build parses conf as the YAML of a nats connection and builds it.
func build(t *testing.T, conf string) (*natsconn.Conn, error) {
	t.Helper()
	spec, ok := component.LookupConnection("nats")
	if !ok {
		t.Fatal("nats connection type not registered")
	}
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(conf), &doc); err != nil {
		t.Fatal(err)
	}
	var node *yaml.Node
	if len(doc.Content) > 0 {
		node = doc.Content[0]
	}
	c, errs := component.Parse(spec.Fields, node, "test.yaml", "connections.bus", map[string]bool{"type": true})
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	res := &component.Resources{Logger: zerolog.Nop(), Dir: t.TempDir(), Node: "bus", Pipeline: "test"}
	return natsconn.New(c, res)
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func TestConfigErrors(t *testing.T) {
	cases := []struct{ conf, want string }{
		{"url: localhost:4222", "want a URL"},
		{"url: http://x:1", "unknown scheme"},
		{"url: nats://a:1,embedded", "cannot be combined"},
		{"user: u\ntoken: t", "choose one auth method"},
		{"password: p", "needs a user"},
		{"token: a\ntoken_file: b", "not both"},
		{"creds_file: a\nnkey_file: b", "choose one auth method"},
		{"tls: {cert_file: c.pem}", "go together"},
		{"url: embedded\ntoken: t", "without auth or TLS"},
		{"url: embedded\nembedded_listen: nope", "host:port"},
	}
	for _, c := range cases {
		_, err := build(t, c.conf)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: got %v, want an error containing %q", c.conf, err, c.want)
		}
	}
}

// New must not touch the network: a connection to nowhere builds fine and
// is simply not started.
func TestNewDoesNoIO(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "store")
	c, err := build(t, "url: embedded\nstore_dir: "+dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Client(); !errors.Is(err, natsconn.ErrNotStarted) {
		t.Fatalf("Client before Start: %v", err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("New created the store dir (%v)", err)
	}
	if err := c.Close(context.Background()); err != nil {
		t.Fatalf("Close of an unstarted connection: %v", err)
	}
}

func TestTokenFileAndReconnectCount(t *testing.T) {
	srv := brokertest.StartNATS(t, brokertest.NATSConfig{Args: []string{"--auth", "s3cret"}})
	tok := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tok, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := build(t, "url: "+srv.URL()+"\ntoken_file: "+tok+"\nreconnect_wait: 50ms\nreconnect_jitter: 10ms\nretry_on_failed_connect: false")
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(context.Background()); err != nil {
		t.Fatalf("start with token file: %v", err)
	}
	defer c.Close(context.Background())
	nc, _ := c.Client()
	if !nc.IsConnected() {
		t.Fatal("not connected")
	}
	srv.Kill()
	srv.Start()
	waitFor(t, 15*time.Second, "reconnect", func() bool { return nc.IsConnected() && c.Stats().Reconnects == 1 })
	if d := c.Stats().Disconnects; d < 1 {
		t.Errorf("disconnects = %d, want >= 1", d)
	}

	// A wrong token fails at once when retry_on_failed_connect is off.
	bad := filepath.Join(t.TempDir(), "bad")
	os.WriteFile(bad, []byte("wrong"), 0o600)
	c2, err := build(t, "url: "+srv.URL()+"\ntoken_file: "+bad+"\nretry_on_failed_connect: false\nmax_reconnects: 0")
	if err != nil {
		t.Fatal(err)
	}
	if err := c2.Start(context.Background()); err == nil {
		c2.Close(context.Background())
		t.Fatal("start with a wrong token succeeded")
	}
}

// An unreachable server is not fatal by default: Start returns, and the
// connection comes up when the server does.
func TestRetryOnFailedConnect(t *testing.T) {
	srv := brokertest.StartNATS(t, brokertest.NATSConfig{})
	srv.Kill()
	c, err := build(t, "url: "+srv.URL()+"\nreconnect_wait: 50ms\nreconnect_jitter: 10ms")
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(context.Background()); err != nil {
		t.Fatalf("start against a missing server: %v", err)
	}
	defer c.Close(context.Background())
	nc, _ := c.Client()
	if nc.IsConnected() {
		t.Fatal("connected to nothing")
	}
	srv.Start()
	waitFor(t, 15*time.Second, "late connect", nc.IsConnected)
}

// The embedded server interoperates with a plain nats.go client over TCP:
// core pub/sub both ways, and JetStream streams that survive a restart of
// edgeflow's connection.
func TestEmbeddedInterop(t *testing.T) {
	port := freePort(t)
	store := t.TempDir()
	conf := "url: embedded\nstore_dir: " + store + "\nembedded_listen: 127.0.0.1:" + strconv.Itoa(port)
	c, err := build(t, conf)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	own, _ := c.Client()
	plain, err := nats.Connect("nats://127.0.0.1:" + strconv.Itoa(port))
	if err != nil {
		c.Close(ctx)
		t.Fatalf("plain client cannot reach the embedded server: %v", err)
	}

	// Core: plain -> edgeflow and edgeflow -> plain.
	for _, dir := range []struct {
		name     string
		pub, sub *nats.Conn
	}{{"plain to edgeflow", plain, own}, {"edgeflow to plain", own, plain}} {
		sub, err := dir.sub.SubscribeSync("core.test")
		if err != nil {
			t.Fatal(err)
		}
		dir.sub.Flush()
		if err := dir.pub.Publish("core.test", []byte(dir.name)); err != nil {
			t.Fatal(err)
		}
		dir.pub.Flush()
		msg, err := sub.NextMsg(5 * time.Second)
		if err != nil || string(msg.Data) != dir.name {
			t.Errorf("%s: got %v, %v", dir.name, msg, err)
		}
		sub.Unsubscribe()
	}

	// JetStream: the plain client makes a stream and stores into it;
	// edgeflow's side reads it back.
	pjs, _ := jetstream.New(plain)
	if _, err := pjs.CreateStream(ctx, jetstream.StreamConfig{Name: "INTEROP", Subjects: []string{"interop.>"}}); err != nil {
		t.Fatalf("create stream on the embedded server: %v", err)
	}
	for i := range 10 {
		if _, err := pjs.Publish(ctx, "interop.x", []byte(strconv.Itoa(i))); err != nil {
			t.Fatal(err)
		}
	}
	plain.Close()
	ojs, _ := jetstream.New(own)
	readAll := func(js jetstream.JetStream) []string {
		t.Helper()
		cons, err := js.OrderedConsumer(ctx, "INTEROP", jetstream.OrderedConsumerConfig{})
		if err != nil {
			t.Fatal(err)
		}
		batch, err := cons.Fetch(10, jetstream.FetchMaxWait(5*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for m := range batch.Messages() {
			got = append(got, string(m.Data()))
		}
		return got
	}
	if got := readAll(ojs); len(got) != 10 || got[0] != "0" || got[9] != "9" {
		t.Fatalf("edgeflow read %v from the stream", got)
	}

	// Restart: the stream is in store_dir, not in memory.
	if err := c.Close(ctx); err != nil {
		t.Fatalf("close: %v", err)
	}
	if _, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(port), time.Second); err == nil {
		t.Fatal("embedded server still listening after Close")
	}
	if err := c.Start(ctx); err != nil {
		t.Fatalf("restart: %v", err)
	}
	defer c.Close(ctx)
	own, _ = c.Client()
	ojs, _ = jetstream.New(own)
	if got := readAll(ojs); len(got) != 10 {
		t.Fatalf("after restart the stream holds %d messages, want 10", len(got))
	}
	if _, err := os.Stat(filepath.Join(store, "jetstream")); err != nil {
		t.Errorf("store_dir has no jetstream directory: %v", err)
	}
}

func TestHeaders(t *testing.T) {
	meta := map[string]string{"site": "p1", "Nats-Msg-Id": "x", "bad key": "v", "edgeflow_error": "line1\nline2"}
	h := natsconn.MetaToHeader(meta)
	if h.Get("site") != "p1" || h.Get("edgeflow_error") != "line1 line2" {
		t.Errorf("headers %v", h)
	}
	if _, ok := h["Nats-Msg-Id"]; ok {
		t.Error("Nats-Msg-Id forwarded")
	}
	if _, ok := h["bad key"]; ok {
		t.Error("invalid header key forwarded")
	}
	back := map[string]string{}
	natsconn.HeaderToMeta(nats.Header{"a": {"1", "2"}, "b": {"3"}}, back)
	if back["a"] != "1, 2" || back["b"] != "3" {
		t.Errorf("meta %v", back)
	}
}

func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// One variable switches a pipeline between the embedded server and a real
// one, so the embedded-only keys must not stand in the way.
func TestEmbeddedOnlyKeysIgnoredForOtherURLs(t *testing.T) {
	if _, err := build(t, "url: nats://127.0.0.1:1\nstore_dir: /tmp/x\nembedded_listen: 127.0.0.1:14222"); err != nil {
		t.Fatalf("embedded-only keys rejected for a real url: %v", err)
	}
}
