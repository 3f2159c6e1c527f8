package mqtt

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"testing"
	"time"
)

func loopbackPair(t *testing.T) (client *bufferedConn, server net.Conn) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := l.Accept()
		accepted <- c
	}()
	raw, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server = <-accepted
	if server == nil {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { server.Close() })
	return newBufferedConn(raw), server
}

// Every byte written arrives, in order, including what is still pending
// when the connection is closed; reads see what the peer sent.
func TestBufferedConnSendsEverythingInOrder(t *testing.T) {
	c, server := loopbackPair(t)
	var want bytes.Buffer
	got := make(chan []byte, 1)
	go func() {
		b, _ := io.ReadAll(server)
		got <- b
	}()
	for i := range 5000 {
		p := fmt.Appendf(nil, "packet %d;", i)
		want.Write(p)
		if n, err := c.Write(p); err != nil || n != len(p) {
			t.Fatalf("write %d: n=%d err=%v", i, n, err)
		}
	}
	if _, err := server.Write([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 5)
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "hello" {
		t.Fatalf("read %q, %v", buf, err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case b := <-got:
		if !bytes.Equal(b, want.Bytes()) {
			t.Fatalf("received %d bytes, want %d (or out of order)", len(b), want.Len())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the peer never saw the end of the stream")
	}
	if _, err := c.Write([]byte("late")); err == nil {
		t.Error("a write after Close succeeded")
	}
}

// Once the peer is gone, writes fail (paho then drops the connection)
// rather than piling up.
func TestBufferedConnReportsWriteErrors(t *testing.T) {
	c, server := loopbackPair(t)
	defer c.Close()
	server.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := c.Write(make([]byte, 1024)); err != nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("writes to a closed peer kept succeeding")
		}
		time.Sleep(time.Millisecond)
	}
}
