package file

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"time"

	"github.com/edgeflow/edgeflow/pipeline"
)

// Run replays the files until they are done (or forever with loop) or ctx
// is done.
func (s *Source) Run(ctx context.Context, out pipeline.SourceOutput) error {
	paths, err := filepath.Glob(s.pattern)
	if err != nil {
		return fmt.Errorf("file: %w", err)
	}
	if len(paths) == 0 {
		return fmt.Errorf("file: no file matches %q", s.pattern)
	}
	slices.Sort(paths)
	for pass := 0; ; pass++ {
		if err := s.replay(ctx, paths, out); err != nil || ctx.Err() != nil || !s.loop {
			return err
		}
		s.log.Debug().Int("pass", pass+1).Msg("replay finished; looping")
	}
}

// stream is one open file and its next row.
type stream struct {
	r    reader
	head row
	done bool
}

func (st *stream) advance() error {
	r, err := st.r.next()
	if err == io.EOF {
		st.done = true
		return nil
	}
	if err != nil {
		st.done = true
		return err
	}
	st.head = r
	return nil
}

// replay makes one pass over the files, merging their rows by timestamp.
func (s *Source) replay(ctx context.Context, paths []string, out pipeline.SourceOutput) (err error) {
	streams := make([]*stream, 0, len(paths))
	defer func() {
		for _, st := range streams {
			if cerr := st.r.close(); cerr != nil && err == nil {
				err = fmt.Errorf("file: %w", cerr)
			}
		}
	}()
	for _, p := range paths {
		r, err := s.open(p)
		if err != nil {
			return fmt.Errorf("file %s: %w", p, err)
		}
		st := &stream{r: r}
		streams = append(streams, st)
		if err := st.advance(); err != nil {
			return fmt.Errorf("file: %w", err)
		}
	}
	var (
		baseWall time.Time
		baseTS   time.Time
	)
	for {
		// The stream whose next row is earliest; rows without times keep
		// file order.
		var next *stream
		for _, st := range streams {
			if !st.done && (next == nil || st.head.ts.Before(next.head.ts)) {
				next = st
			}
		}
		if next == nil {
			return nil
		}
		r := next.head
		if r.bad == nil && s.factor > 0 {
			if baseWall.IsZero() {
				baseWall, baseTS = time.Now(), r.ts
			}
			due := baseWall.Add(time.Duration(float64(r.ts.Sub(baseTS)) / s.factor))
			if wait := time.Until(due); wait > 0 && !sleep(ctx, wait) {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return nil
		default:
		}
		r.m.IngestTime = time.Now()
		if r.bad != nil {
			s.log.Debug().Err(r.bad).Msg("bad row")
			out.DeadLetter(r.m, r.bad)
		} else if err := out.Emit(r.m); err != nil {
			if ctx.Err() != nil || errors.Is(err, pipeline.ErrAborted) {
				return nil
			}
			return fmt.Errorf("file: %w", err)
		}
		if err := next.advance(); err != nil {
			return fmt.Errorf("file: %w", err)
		}
	}
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
