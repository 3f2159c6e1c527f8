// Package file is the `file` sink: JSON Lines (or raw lines) appended to a
// file, flushed before messages are acknowledged, with optional rotation.
package file

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"

	"github.com/edgeflow/edgeflow/codec"
	"github.com/edgeflow/edgeflow/component"
	"github.com/edgeflow/edgeflow/pipeline"
)

func init() {
	component.Register(component.Spec{
		Kind:    pipeline.KindSink,
		Name:    "file",
		Summary: "Append messages as JSON Lines to a file, with optional size-based rotation.",
		Description: `Appends one line per message to ` + "`path`" + ` (relative to the pipeline file; parent
directories are created). A batch is written with one system call and, with
` + "`fsync: true`" + `, synced to disk before its messages are acknowledged, so an
acknowledged reading survives a power cut.

` + "`format`" + ` is ` + "`json`" + ` (the fields as an object), ` + "`envelope`" + ` (the whole message: key, topic, times,
meta and fields; a good dead-letter format) or ` + "`raw`" + ` (the payload, plus a newline).

With ` + "`max_size`" + `, the file is rotated before a batch would take it past that many bytes:
` + "`path`" + ` becomes ` + "`path.1`" + `, ` + "`path.1`" + ` becomes ` + "`path.2`" + `, and so on; at most ` + "`max_files`" + ` rotated
files are kept. The file is opened on the first write, never when the pipeline is
only validated.`,
		Fields: []component.Field{
			{Name: "path", Type: component.String, Example: "out/scores.jsonl",
				Description: "File to append to."},
			{Name: "format", Type: component.String, Default: "json", Enum: codec.EncoderNames(),
				Description: "Line format: json, envelope or raw."},
			{Name: "fsync", Type: component.Bool, Default: false,
				Description: "Sync each batch to disk before acknowledging it (slower, survives power loss)."},
			{Name: "max_size", Type: component.Int, Default: 0, Min: component.Bound(0),
				Description: "Rotate the file before it grows past this many bytes; 0 never rotates."},
			{Name: "max_files", Type: component.Int, Default: 5, Min: component.Bound(1),
				Description: "Rotated files to keep (path.1 … path.N)."},
		},
		Batching: true,
		Example: `sinks:
  archive:
    type: file
    input: scores
    path: out/scores.jsonl
    max_size: 104857600
    max_files: 3`,
		New: newSink,
	})
}

// Sink is the file sink.
type Sink struct {
	path     string
	enc      codec.Encoder
	fsync    bool
	maxSize  int64
	maxFiles int

	mu     sync.Mutex
	f      *os.File
	size   int64
	buf    []byte
	closed bool
}

// errClosed fails writes after Close: reopening the file then would leak it.
var errClosed = errors.New("file sink: closed")

func newSink(conf *component.Config, res *component.Resources) (any, error) {
	path := conf.String("path")
	if path == "" {
		return nil, conf.Errorf("path", "empty path")
	}
	if !filepath.IsAbs(path) && res.Dir != "" {
		path = filepath.Join(res.Dir, path)
	}
	enc, err := codec.NewEncoder(conf.String("format"))
	if err != nil {
		return nil, conf.Errorf("format", "%v", err)
	}
	return &Sink{path: path, enc: enc, fsync: conf.Bool("fsync"),
		maxSize: int64(conf.Int("max_size")), maxFiles: conf.Int("max_files")}, nil
}

// Write implements pipeline.Sink.
func (s *Sink) Write(ctx context.Context, m *pipeline.Message) error {
	return s.WriteBatch(ctx, []*pipeline.Message{m})
}

// WriteBatch implements pipeline.BatchSink. The batch is encoded, then
// written with one call; a message that cannot be encoded is left out and
// fails alone, permanently, so it goes to the dead-letter sink.
func (s *Sink) WriteBatch(_ context.Context, batch []*pipeline.Message) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var bad []error
	s.buf, bad = codec.AppendLines(s.buf[:0], s.enc, batch, "file sink")
	if err := s.write(); err != nil || bad == nil {
		return err
	}
	return &pipeline.BatchError{Errs: bad}
}

// write appends the encoded batch in s.buf to the file, rotating first if
// it would grow past max_size.
func (s *Sink) write() error {
	if s.closed {
		return errClosed
	}
	if len(s.buf) == 0 {
		return nil
	}
	if s.f == nil {
		if err := s.open(); err != nil {
			return err
		}
	}
	if s.maxSize > 0 && s.size > 0 && s.size+int64(len(s.buf)) > s.maxSize {
		if err := s.rotate(); err != nil {
			return err
		}
	}
	n, err := s.f.Write(s.buf)
	s.size += int64(n)
	if err != nil {
		return fmt.Errorf("file sink: write %s: %w", s.path, err)
	}
	if s.fsync {
		if err := s.f.Sync(); err != nil {
			return fmt.Errorf("file sink: sync %s: %w", s.path, err)
		}
	}
	return nil
}

func (s *Sink) open() error {
	if err := os.MkdirAll(filepath.Dir(s.path), 0o755); err != nil {
		return fmt.Errorf("file sink: %w", err)
	}
	f, err := os.OpenFile(s.path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("file sink: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return fmt.Errorf("file sink: %w", err)
	}
	s.f, s.size = f, st.Size()
	return nil
}

// rotate shifts path.N-1 … path.1 up by one (dropping the oldest), moves
// path to path.1 and opens a fresh path.
func (s *Sink) rotate() error {
	if err := s.f.Close(); err != nil {
		return fmt.Errorf("file sink: close %s: %w", s.path, err)
	}
	s.f = nil
	name := func(i int) string { return s.path + "." + strconv.Itoa(i) }
	if err := os.Remove(name(s.maxFiles)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("file sink: rotate: %w", err)
	}
	for i := s.maxFiles - 1; i >= 1; i-- {
		if err := os.Rename(name(i), name(i+1)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("file sink: rotate: %w", err)
		}
	}
	if err := os.Rename(s.path, name(1)); err != nil {
		return fmt.Errorf("file sink: rotate: %w", err)
	}
	return s.open()
}

// Close implements pipeline.Closer.
func (s *Sink) Close(context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	if s.f == nil {
		return nil
	}
	err := s.f.Close()
	s.f = nil
	if err != nil {
		return fmt.Errorf("file sink: close %s: %w", s.path, err)
	}
	return nil
}
