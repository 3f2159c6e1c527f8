package mqtt

import (
	"bufio"
	"net"
	"net/url"

	paho "github.com/eclipse/paho.mqtt.golang"
	"golang.org/x/net/proxy"
)

// readBuffer is the size of a plain TCP connection's read buffer.
const readBuffer = 32 << 10

// openTCP dials a tcp:// or mqtt:// broker as paho does (honouring the
// proxy environment variables) and buffers reads. paho reads each packet's
// fixed header a byte at a time; on a bare TCP connection every one of those
// reads is a system call, which at tens of thousands of messages a second
// was the largest cost of receiving. TLS connections buffer by themselves;
// websockets are left to paho.
func openTCP(uri *url.URL, o paho.ClientOptions) (net.Conn, error) {
	d := o.Dialer
	if d == nil {
		d = &net.Dialer{Timeout: o.ConnectTimeout}
	}
	conn, err := proxy.FromEnvironmentUsing(d).Dial("tcp", uri.Host)
	if err != nil {
		return nil, err
	}
	return &bufferedConn{Conn: conn, r: bufio.NewReaderSize(conn, readBuffer)}, nil
}

// bufferedConn is a net.Conn whose reads go through a buffer.
type bufferedConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *bufferedConn) Read(p []byte) (int, error) { return c.r.Read(p) }
