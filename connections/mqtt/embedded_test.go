package mqtt

import (
	"context"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

// url: embedded needs nothing else: no client_id (the broker lives in the
// process), and a taken port says what to do about it.
func TestEmbeddedZeroConfig(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close() // holds the port, as an installed broker holds 1883

	c, err := New("plant", Options{URL: Embedded, EmbeddedListen: l.Addr().String()}, zerolog.Nop())
	if err != nil {
		t.Fatalf("url: embedded without client_id: %v", err)
	}
	err = c.Start(context.Background())
	if err == nil {
		c.Close(context.Background())
		t.Fatal("started on a port in use")
	}
	if !strings.Contains(err.Error(), "embedded_listen") {
		t.Errorf("error %q does not point at embedded_listen", err)
	}

	free, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := free.Addr().String()
	free.Close()
	c, err = New("plant", Options{URL: Embedded, EmbeddedListen: addr, ConnectRequired: true}, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	c.Close(context.Background())
	if c.opts.ClientID != "edgeflow-plant" {
		t.Errorf("client id %q", c.opts.ClientID)
	}
}

// A password in the broker URL never reaches the log: it used to be
// logged in clear at warn level when the broker was unreachable.
func TestURLPasswordNotLogged(t *testing.T) {
	var logs strings.Builder
	var mu sync.Mutex
	w := zerolog.SyncWriter(writerFunc(func(p []byte) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		return logs.Write(p)
	}))
	c, err := New("plant", Options{URL: "tcp://edge:s3cret@127.0.0.1:1", ClientID: "x",
		ReconnectMin: 10 * time.Millisecond, ReconnectMax: 20 * time.Millisecond, ConnectTimeout: time.Second}, zerolog.New(w))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond) // a few reconnect attempts
	c.Close(context.Background())
	mu.Lock()
	defer mu.Unlock()
	if strings.Contains(logs.String(), "s3cret") || !strings.Contains(logs.String(), "edge:xxxxx@") {
		t.Fatalf("log:\n%s", logs.String())
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }
