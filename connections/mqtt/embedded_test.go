package mqtt

import (
	"context"
	"net"
	"strings"
	"testing"

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
