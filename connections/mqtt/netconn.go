package mqtt

import (
	"bufio"
	"context"
	"crypto/tls"
	"net"
	"net/url"
	"runtime"
	"sync"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"golang.org/x/net/proxy"
)

const (
	// readBuffer is the size of a plain TCP connection's read buffer.
	readBuffer = 32 << 10
	// maxPendingWrite bounds the bytes written and not yet sent; a writer
	// beyond it waits, as it would on a full socket.
	maxPendingWrite = 256 << 10
	// closeFlush bounds how long Close waits for pending bytes to be sent.
	closeFlush = time.Second
)

// openTCP dials a tcp:// or mqtt:// broker as paho does (honouring the
// proxy environment variables) and buffers both directions. paho reads each
// packet's fixed header a byte at a time and writes each packet with a
// write of its own: on a bare TCP connection every one of those is a system
// call, which at tens of thousands of messages a second was the largest cost
// of bridging. TLS connections buffer reads by themselves; websockets are
// left to paho.
func openTCP(uri *url.URL, o paho.ClientOptions) (net.Conn, error) {
	conn, err := dialTCP(uri, o)
	if err != nil {
		return nil, err
	}
	return newBufferedConn(conn), nil
}

func dialTCP(uri *url.URL, o paho.ClientOptions) (net.Conn, error) {
	d := o.Dialer
	if d == nil {
		d = &net.Dialer{Timeout: o.ConnectTimeout}
	}
	return proxy.FromEnvironmentUsing(d).Dial("tcp", uri.Host)
}

// openWatched is openTCP, or a TLS dial like paho's own, for a connection
// that must learn of the end of its network connection at once: down is
// called once, when a read fails or paho closes the socket (which it does
// first when it detects a loss, by a failed read or a missing PINGRESP).
// paho reports the loss only after its reader and router goroutines have
// stopped, and the router may be waiting in dispatch for room that only the
// loss can give up (see ackQueue.gone).
func openWatched(down func()) paho.OpenConnectionFunc {
	return func(uri *url.URL, o paho.ClientOptions) (net.Conn, error) {
		raw, err := dialTCP(uri, o)
		if err != nil {
			return nil, err
		}
		w := &watchedConn{Conn: raw, down: down}
		switch uri.Scheme {
		case "tcp", "mqtt":
			return newBufferedConn(w), nil
		}
		cfg := o.TLSConfig.Clone()
		if cfg == nil {
			cfg = &tls.Config{}
		}
		if cfg.ServerName == "" {
			cfg.ServerName = uri.Hostname()
		}
		tc := tls.Client(w, cfg)
		ctx, cancel := context.WithTimeout(context.Background(), o.ConnectTimeout)
		defer cancel()
		if err := tc.HandshakeContext(ctx); err != nil {
			raw.Close()
			return nil, err
		}
		return tc, nil
	}
}

// openSubscriber wraps the subscribing client's open function: a buffered
// TCP connection it returns is handed to the ack queue of this connect
// (supervise makes one per connect, before dialling), which writes PUBACKs
// into it (ack.go).
func (c *Conn) openSubscriber(open paho.OpenConnectionFunc) paho.OpenConnectionFunc {
	return func(uri *url.URL, o paho.ClientOptions) (net.Conn, error) {
		conn, err := open(uri, o)
		if bc, ok := conn.(*bufferedConn); ok {
			c.mu.Lock()
			c.acks.net.Store(bc)
			c.mu.Unlock()
		}
		return conn, err
	}
}

// watchedConn calls down once, when a read first fails or on Close.
type watchedConn struct {
	net.Conn
	down func()
	once sync.Once
}

func (c *watchedConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if err != nil {
		c.once.Do(c.down)
	}
	return n, err
}

func (c *watchedConn) Close() error {
	c.once.Do(c.down)
	return c.Conn.Close()
}

// bufferedConn is a net.Conn whose reads go through a buffer and whose
// writes are coalesced: Write appends to a pending buffer, and a flusher
// goroutine sends whatever has accumulated in one system call, so packets
// written while it is busy go out together. Nothing waits for a timer: a
// lone packet is sent at once.
type bufferedConn struct {
	net.Conn
	r *bufio.Reader

	mu      sync.Mutex
	cond    sync.Cond
	pending []byte
	spare   []byte
	err     error // the first write error; every later Write returns it
	closing bool
	done    chan struct{} // the flusher has exited
}

func newBufferedConn(conn net.Conn) *bufferedConn {
	c := &bufferedConn{Conn: conn, r: bufio.NewReaderSize(conn, readBuffer), done: make(chan struct{})}
	c.cond.L = &c.mu
	go c.flush()
	return c
}

func (c *bufferedConn) Read(p []byte) (int, error) { return c.r.Read(p) }

// Write queues p for the flusher. It returns an error only once an earlier
// write has failed (paho then drops the connection).
func (c *bufferedConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for c.err == nil && !c.closing && len(c.pending) >= maxPendingWrite {
		c.cond.Wait()
	}
	if c.err != nil {
		return 0, c.err
	}
	if c.closing {
		return 0, net.ErrClosed
	}
	c.pending = append(c.pending, p...)
	c.cond.Broadcast()
	return len(p), nil
}

// flush sends pending bytes until the connection closes or a write fails.
func (c *bufferedConn) flush() {
	defer close(c.done)
	c.mu.Lock()
	defer c.mu.Unlock()
	for {
		for len(c.pending) == 0 && !c.closing {
			c.cond.Wait()
		}
		if len(c.pending) == 0 {
			return // closing, everything sent
		}
		// Let goroutines about to write (paho's writer with the next
		// PUBACK of a run) go first: their packets then share this
		// system call.
		c.mu.Unlock()
		runtime.Gosched()
		c.mu.Lock()
		out := c.pending
		c.pending = c.spare[:0]
		c.mu.Unlock()
		_, err := c.Conn.Write(out)
		c.mu.Lock()
		c.spare = out[:0]
		if err != nil && c.err == nil {
			c.err = err
		}
		c.cond.Broadcast() // writers waiting for room, or for the error
		if c.err != nil {
			return
		}
	}
}

// Close sends what is pending (for at most closeFlush: a DISCONNECT, the
// last PUBACKs) and closes the connection.
func (c *bufferedConn) Close() error {
	c.mu.Lock()
	c.closing = true
	c.cond.Broadcast()
	c.mu.Unlock()
	t := time.NewTimer(closeFlush)
	defer t.Stop()
	select {
	case <-c.done:
	case <-t.C:
	}
	err := c.Conn.Close() // unblocks a flusher stuck in Write
	<-c.done
	return err
}
