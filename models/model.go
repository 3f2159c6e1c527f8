// Package models loads ONNX models into ONNX Runtime, describes them, runs
// them safely from many goroutines, and swaps a model for a new version of
// its file without stopping the runs in flight.
//
// The ONNX Runtime shared library is found at run time (see Init and
// FindLibrary); `make deps` puts it in .cache/onnxruntime.
package models

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/rs/zerolog"
)

// ErrClosed is returned by a Model that has been closed.
var ErrClosed = errors.New("model closed")

// LoadOptions say how a Model loads its file.
type LoadOptions struct {
	Options
	// SHA256, when set, is the hex digest the file must have; a file that
	// does not match is refused (on reload too, so a pinned model cannot be
	// swapped for another by accident).
	SHA256 string
	// Check, when set, vets every version of the model before it serves,
	// for example that the inputs a pipeline feeds exist. A version it
	// rejects is not loaded.
	Check func(*Info) error
	// KernelCheck says what to do when an int8 model's optimised
	// execution disagrees with its unfused reference on this CPU (see
	// CheckKernels): refuse the version (the default), warn (log at error
	// level and load it) or off. Float models are not checked.
	KernelCheck KernelCheck
	// KernelTolerance overrides DefaultKernelTolerance.
	KernelTolerance float64
	// Logger receives reload logs (default: discard).
	Logger *zerolog.Logger
}

// Model is a handle to a model file whose current session can be replaced
// while it serves. Run and Use always see one complete version; Reload swaps
// in a new version atomically and destroys the old one once the runs that
// hold it have returned. It is safe for concurrent use.
type Model struct {
	path string
	opts LoadOptions
	log  zerolog.Logger

	cur atomic.Pointer[version]

	mu      sync.Mutex // serialises loads
	seen    fileStamp  // the file as last loaded or rejected
	reloads atomic.Uint64
	failed  atomic.Uint64
}

// version is one loaded session with a reference count: one reference
// belongs to the Model while the version is current, one to each run.
type version struct {
	sess *Session
	refs atomic.Int64
	log  *zerolog.Logger
}

func (v *version) release() {
	if v.refs.Add(-1) == 0 {
		if err := v.sess.Close(); err != nil {
			v.log.Error().Err(err).Msg("closing replaced model session")
		}
	}
}

// fileStamp identifies a version of a file cheaply. The inode number is
// part of it because a deploy that renames a new file into place within one
// clock tick may leave the size and mtime unchanged.
type fileStamp struct {
	mtime time.Time
	size  int64
	inode uint64
}

func stampOf(path string) (fileStamp, error) {
	st, err := os.Stat(path)
	if err != nil {
		return fileStamp{}, err
	}
	s := fileStamp{mtime: st.ModTime(), size: st.Size()}
	if sys, ok := st.Sys().(*syscall.Stat_t); ok {
		s.inode = uint64(sys.Ino)
	}
	return s, nil
}

// Open loads the model at path. It initialises ONNX Runtime if needed.
func Open(path string, opts LoadOptions) (*Model, error) {
	if err := opts.Options.Validate(); err != nil {
		return nil, err
	}
	if err := opts.KernelCheck.Validate(); err != nil {
		return nil, err
	}
	m := &Model{path: path, opts: opts, log: zerolog.Nop()}
	if opts.Logger != nil {
		m.log = *opts.Logger
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	v, err := m.load()
	if err != nil {
		return nil, err
	}
	m.cur.Store(v)
	return m, nil
}

// load reads, verifies and loads the file. The caller holds m.mu.
func (m *Model) load() (*version, error) {
	stamp, err := stampOf(m.path)
	if err != nil {
		return nil, fmt.Errorf("model %s: %w", m.path, err)
	}
	m.seen = stamp
	data, err := os.ReadFile(m.path)
	if err != nil {
		return nil, fmt.Errorf("model %s: %w", m.path, err)
	}
	if want := strings.ToLower(m.opts.SHA256); want != "" {
		sum := sha256.Sum256(data)
		if got := hex.EncodeToString(sum[:]); got != want {
			return nil, fmt.Errorf("model %s: sha256 is %s, want %s", m.path, got, want)
		}
	}
	return m.loadBytes(data)
}

// acquire returns the current version with a reference the caller releases.
func (m *Model) acquire() (*version, error) {
	for {
		v := m.cur.Load()
		if v == nil {
			return nil, ErrClosed
		}
		n := v.refs.Load()
		if n <= 0 {
			continue // being replaced right now; load the new one
		}
		if v.refs.CompareAndSwap(n, n+1) {
			return v, nil
		}
	}
}

// Use calls fn with the current session, which stays open until fn returns
// even if the model is reloaded meanwhile. Use it to read a version's Info
// and run it consistently.
func (m *Model) Use(fn func(*Session) error) error {
	v, err := m.acquire()
	if err != nil {
		return err
	}
	defer v.release()
	return fn(v.sess)
}

// Run runs the current version; see Session.Run.
func (m *Model) Run(inputs []Tensor) ([]Tensor, error) {
	var out []Tensor
	err := m.Use(func(s *Session) (err error) {
		out, err = s.Run(inputs)
		return err
	})
	return out, err
}

// Info describes the current version.
func (m *Model) Info() (*Info, error) {
	var info *Info
	err := m.Use(func(s *Session) error { info = s.info; return nil })
	return info, err
}

// Path is the model's file.
func (m *Model) Path() string { return m.path }

// Reloads counts successful reloads; Failed counts rejected ones.
func (m *Model) Reloads() (ok, failed uint64) { return m.reloads.Load(), m.failed.Load() }

// Reload loads the file again and, if it loads (and passes the checksum and
// Check), makes it the current version. On error the current version keeps
// serving.
func (m *Model) Reload() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.reloadLocked()
}

func (m *Model) reloadLocked() error {
	if m.cur.Load() == nil {
		return ErrClosed
	}
	v, err := m.load()
	if err != nil {
		m.failed.Add(1)
		m.log.Error().Err(err).Str("model", m.path).Msg("reload rejected; the previous version keeps serving")
		return err
	}
	if err := m.install(v); err != nil {
		return err
	}
	m.log.Info().Str("model", m.path).Str("sha256", v.sess.info.SHA256).Msg("model reloaded")
	return nil
}

// install makes v the serving version and releases the one it replaces;
// the caller holds mu. If the model was closed while v loaded, v is
// released instead.
func (m *Model) install(v *version) error {
	old := m.cur.Swap(v)
	if old == nil { // closed while loading
		m.cur.Store(nil)
		v.release()
		return ErrClosed
	}
	old.release()
	m.reloads.Add(1)
	return nil
}

// ReloadIfChanged reloads when the file's modification time or size differ
// from the version last loaded (or last rejected). changed reports whether
// it tried.
func (m *Model) ReloadIfChanged() (changed bool, err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	stamp, err := stampOf(m.path)
	if err != nil {
		return false, fmt.Errorf("model %s: %w", m.path, err)
	}
	if stamp == m.seen {
		return false, nil
	}
	return true, m.reloadLocked()
}

// Watch polls the file every interval and reloads it when it changes, until
// ctx is done. Errors are logged; the previous version keeps serving. The
// caller runs Watch in a goroutine it owns.
func (m *Model) Watch(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		// A rejected version is logged by the reload itself; a file that is
		// briefly missing while it is replaced is only worth a debug line.
		if _, err := m.ReloadIfChanged(); errors.Is(err, ErrClosed) {
			return
		} else if err != nil {
			m.log.Debug().Err(err).Msg("model watch")
		}
	}
}

// Close stops the model. Runs in flight finish on their version, which is
// destroyed after the last one returns; later runs get ErrClosed.
func (m *Model) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if old := m.cur.Swap(nil); old != nil {
		old.release()
	}
	return nil
}

// checkKernels runs the int8 kernel check on a quantised model's data as
// LoadOptions.KernelCheck says: nil when it passes, is off or the model is
// float; the check's error when it refuses; a logged error when it warns.
func (m *Model) checkKernels(data []byte, sess *Session) error {
	if m.opts.KernelCheck == KernelCheckOff || !sess.info.Quantized() {
		return nil
	}
	rep, err := checkKernels(data, sess, m.opts.Options, m.opts.KernelTolerance)
	if err != nil {
		return fmt.Errorf("model %s: int8 kernel check: %w", m.path, err)
	}
	err = rep.Err(m.path)
	switch {
	case rep.Skipped != "":
		m.log.Warn().Str("model", m.path).Msg(rep.String())
		return nil
	case err == nil:
		m.log.Debug().Str("model", m.path).Msg(rep.String())
		return nil
	case m.opts.KernelCheck == KernelCheckWarn:
		m.log.Error().Err(err).Str("model", m.path).Str("cpu", rep.CPU.String()).
			Msg("int8 model computes wrong results on this CPU; loading it anyway (kernel_check: warn)")
		return nil
	}
	return err
}
