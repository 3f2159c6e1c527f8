package main

import (
	"bytes"
	"io"
	"os"
	"regexp"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"
)

// progress shows how long work goes on stderr: on a terminal a bar with
// the rate and the time left, redrawn in place; otherwise (a log file, CI)
// the same line printed every few seconds. It is safe for concurrent use;
// a nil *progress shows nothing.
type progress struct {
	w   io.Writer
	tty bool

	mu    sync.Mutex
	bar   *progressbar.ProgressBar
	desc  string
	total int64
	bytes bool
}

// plainEvery is how often a progress line is printed when stderr is not a
// terminal.
const plainEvery = 5 * time.Second

// newProgress returns a progress display on w (a terminal when w is one).
func newProgress(w io.Writer) *progress {
	f, ok := w.(*os.File)
	return &progress{w: w, tty: ok && isTerminal(f)}
}

// Step reports done of total items of the work described by desc; total
// -1 means unknown. A new desc or total starts a new bar.
func (p *progress) Step(desc string, done, total int) {
	p.update(desc, int64(done), int64(total), false)
}

// Bytes reports done of total bytes (total -1 when unknown).
func (p *progress) Bytes(desc string, done, total int64) { p.update(desc, done, total, true) }

func (p *progress) update(desc string, done, total int64, bytes bool) {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.bar == nil || desc != p.desc || total != p.total {
		p.finishLocked()
		p.bar = p.newBar(desc, total, bytes)
		p.desc, p.total, p.bytes = desc, total, bytes
	}
	_ = p.bar.Set64(done) // only fails on a closed writer
	if total >= 0 && done >= total {
		p.finishLocked()
	}
}

func (p *progress) newBar(desc string, total int64, bytes bool) *progressbar.ProgressBar {
	opts := []progressbar.Option{
		progressbar.OptionSetDescription(desc),
		progressbar.OptionSetPredictTime(true),
		progressbar.OptionSetElapsedTime(true),
		progressbar.OptionShowElapsedTimeOnFinish(),
		progressbar.OptionSetWidth(30),
	}
	if bytes {
		opts = append(opts, progressbar.OptionShowBytes(true))
	} else {
		opts = append(opts, progressbar.OptionShowCount(), progressbar.OptionShowIts())
	}
	if p.tty {
		opts = append(opts, progressbar.OptionSetWriter(p.w), progressbar.OptionThrottle(100*time.Millisecond))
	} else {
		opts = append(opts, progressbar.OptionSetWriter(&lineWriter{w: p.w}), progressbar.OptionThrottle(plainEvery),
			progressbar.OptionSetTheme(progressbar.ThemeASCII))
	}
	return progressbar.NewOptions64(total, opts...)
}

// Finish ends the current bar, if any, showing its final state.
func (p *progress) Finish() {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.finishLocked()
}

func (p *progress) finishLocked() {
	if p.bar == nil {
		return
	}
	if !p.bar.IsFinished() {
		_ = p.bar.Finish()
	}
	if p.tty {
		io.WriteString(p.w, "\n") // the bar stays; what follows goes below it
	}
	p.bar = nil
}

// lineWriter turns a bar's in-place redraws (carriage returns, ANSI codes,
// padding) into plain lines, one per redraw, for logs.
type lineWriter struct {
	w    io.Writer
	last []byte
}

var ansi = regexp.MustCompile(`\x1b\[[0-9;]*[A-Za-z]`)

func (l *lineWriter) Write(b []byte) (int, error) {
	for _, part := range bytes.FieldsFunc(b, func(r rune) bool { return r == '\r' || r == '\n' }) {
		line := bytes.TrimSpace(ansi.ReplaceAll(part, nil))
		if len(line) == 0 || bytes.Equal(line, l.last) {
			continue
		}
		l.last = append(l.last[:0], line...)
		if _, err := l.w.Write(append(line, '\n')); err != nil {
			return 0, err
		}
	}
	return len(b), nil
}
