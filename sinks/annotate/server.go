//go:build gocv

package annotate

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
)

const boundary = "edgeflowframe"

// broadcaster holds the newest JPEG and wakes the stream handlers when a
// newer one is published.
type broadcaster struct {
	mu      sync.Mutex
	jpeg    []byte
	seq     uint64
	changed chan struct{} // closed (and replaced) on every publish, and on close
	closed  bool
	waiting atomic.Int32 // stream clients and snapshot requests waiting for frames
}

func newBroadcaster() *broadcaster { return &broadcaster{changed: make(chan struct{})} }

// wanted is how many HTTP clients are waiting for frames.
func (b *broadcaster) wanted() int32 { return b.waiting.Load() }

func (b *broadcaster) publish(jpeg []byte) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return
	}
	b.jpeg, b.seq = jpeg, b.seq+1
	close(b.changed)
	b.changed = make(chan struct{})
}

// latest returns the newest JPEG, its sequence number, a channel closed
// when there is a newer one, and whether the broadcaster is closed.
func (b *broadcaster) latest() ([]byte, uint64, <-chan struct{}, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.jpeg, b.seq, b.changed, b.closed
}

func (b *broadcaster) close() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.closed {
		b.closed = true
		close(b.changed)
	}
}

// server is the MJPEG HTTP server.
type server struct {
	addr string
	srv  *http.Server
	done chan struct{} // Serve returned
	log  zerolog.Logger
}

// writeTimeout bounds writing one part to a client: a client that stops
// reading is dropped instead of holding its handler (and shutdown).
const writeTimeout = 10 * time.Second

func startServer(addr string, b *broadcaster, log zerolog.Logger) (*server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("MJPEG server: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) { serveStream(w, r, b) })
	mux.HandleFunc("GET /stream.mjpg", func(w http.ResponseWriter, r *http.Request) { serveStream(w, r, b) })
	mux.HandleFunc("GET /snapshot.jpg", func(w http.ResponseWriter, r *http.Request) { serveSnapshot(w, r, b) })
	s := &server{
		addr: ln.Addr().String(),
		srv:  &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second},
		done: make(chan struct{}),
		log:  log,
	}
	go func() {
		defer close(s.done)
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error().Err(err).Msg("annotate: MJPEG server stopped")
		}
	}()
	return s, nil
}

// shutdown stops the server. The broadcaster is closed first, so stream
// handlers return and Shutdown finds the connections idle; a client stuck
// in a write is cut when ctx (or the grace period) ends.
func (s *server) shutdown(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	err := s.srv.Shutdown(ctx)
	if err != nil {
		err = errors.Join(err, s.srv.Close())
	}
	<-s.done
	if err != nil {
		return fmt.Errorf("annotate: MJPEG server shutdown: %w", err)
	}
	return nil
}

// serveStream writes every new frame as one part of a
// multipart/x-mixed-replace response until the client goes or the sink
// closes.
func serveStream(w http.ResponseWriter, r *http.Request, b *broadcaster) {
	b.waiting.Add(1)
	defer b.waiting.Add(-1)
	rc := http.NewResponseController(w)
	w.Header().Set("Content-Type", "multipart/x-mixed-replace; boundary="+boundary)
	w.Header().Set("Cache-Control", "no-cache, no-store, must-revalidate")
	w.WriteHeader(http.StatusOK)
	if err := rc.Flush(); err != nil {
		return
	}
	var sent uint64
	for {
		jpeg, seq, changed, closed := b.latest()
		if closed {
			return
		}
		if seq != sent && jpeg != nil {
			_ = rc.SetWriteDeadline(time.Now().Add(writeTimeout))
			if _, err := fmt.Fprintf(w, "--%s\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n", boundary, len(jpeg)); err != nil {
				return
			}
			if _, err := w.Write(jpeg); err != nil {
				return
			}
			if _, err := w.Write([]byte("\r\n")); err != nil {
				return
			}
			if err := rc.Flush(); err != nil {
				return
			}
			sent = seq
		}
		select {
		case <-changed:
		case <-r.Context().Done():
			return
		}
	}
}

// serveSnapshot serves the next annotated frame (frames are drawn only
// while someone waits for them), or the newest one if none comes within a
// few seconds.
func serveSnapshot(w http.ResponseWriter, r *http.Request, b *broadcaster) {
	b.waiting.Add(1)
	defer b.waiting.Add(-1)
	_, _, changed, _ := b.latest()
	t := time.NewTimer(3 * time.Second)
	defer t.Stop()
	select {
	case <-changed:
	case <-t.C:
	case <-r.Context().Done():
		return
	}
	jpeg, _, _, _ := b.latest()
	if jpeg == nil {
		http.Error(w, "no frame yet", http.StatusServiceUnavailable)
		return
	}
	w.Header().Set("Content-Type", "image/jpeg")
	w.Header().Set("Cache-Control", "no-cache, no-store, must-revalidate")
	_, _ = w.Write(jpeg)
}
