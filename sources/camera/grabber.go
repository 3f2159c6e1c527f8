//go:build gocv

package camera

import (
	"context"
	"fmt"
	"time"

	"github.com/edgeflow/edgeflow/internal/redact"
	"github.com/edgeflow/edgeflow/vision/frame"
	"gocv.io/x/gocv"
)

// capture is an open video capture; gocv's VideoCapture in production.
type capture interface {
	// Read decodes the next frame into m; false at the end or on a failure.
	Read(m *gocv.Mat) bool
	// FPS is the frame rate the capture reports (0 if unknown).
	FPS() float64
	// Position and Frames are the index of the next frame and the frame
	// count of a file (Frames <= 0 when unknown).
	Position() int
	Frames() int
	Close() error
}

type gocvCapture struct{ vc *gocv.VideoCapture }

func (g gocvCapture) Read(m *gocv.Mat) bool { return g.vc.Read(m) }
func (g gocvCapture) FPS() float64          { return g.vc.Get(gocv.VideoCaptureFPS) }
func (g gocvCapture) Position() int         { return int(g.vc.Get(gocv.VideoCapturePosFrames)) }
func (g gocvCapture) Frames() int           { return int(g.vc.Get(gocv.VideoCaptureFrameCount)) }
func (g gocvCapture) Close() error          { return g.vc.Close() }

// openCapture opens what the config names. OpenCV's FFmpeg backend bounds
// how long opening a stream may block (30s by default).
func openCapture(c *config) (capture, error) {
	var (
		vc  *gocv.VideoCapture
		err error
	)
	switch {
	case c.device >= 0:
		vc, err = gocv.VideoCaptureDevice(c.device)
	case c.file != "":
		// FFmpeg first (quiet, and what decodes video files); then any
		// backend, so that still images and image sequences open too.
		vc, err = gocv.VideoCaptureFileWithAPI(c.file, gocv.VideoCaptureFFmpeg)
		if err != nil {
			if vc != nil {
				vc.Close()
			}
			vc, err = gocv.VideoCaptureFile(c.file)
		}
	default:
		// FFmpeg only: the other backends cannot play RTSP, and each
		// failed attempt of theirs would log an OpenCV exception.
		vc, err = gocv.VideoCaptureFileWithAPI(c.url, gocv.VideoCaptureFFmpeg)
	}
	if err != nil {
		if vc != nil {
			vc.Close()
		}
		// OpenCV's error names the URL, credentials included.
		return nil, fmt.Errorf("cannot open %s: %s", c.source(), redact.Error(err))
	}
	if c.device >= 0 {
		// Keep the driver's queue short: we want the newest frame.
		vc.Set(gocv.VideoCaptureBufferSize, 1)
		if c.width > 0 {
			vc.Set(gocv.VideoCaptureFrameWidth, float64(c.width))
		}
		if c.height > 0 {
			vc.Set(gocv.VideoCaptureFrameHeight, float64(c.height))
		}
	}
	return gocvCapture{vc}, nil
}

// grabber reads the capture continuously into the slot, reopening it when it
// fails. It owns the capture; nothing else touches it.
type grabber struct {
	cam  *Camera
	pool *frame.Pool
	slot *slot
	seq  uint64 // next frame id
	last time.Time
}

// run returns nil when ctx is done or a file has ended, and an error once the
// capture failed max_attempts times in a row.
func (g *grabber) run(ctx context.Context) error {
	c, st, log := &g.cam.cfg, &g.cam.stats, g.cam.log
	failures := 0
	backoff := c.minBackoff
	g.last = time.Now()
	for ctx.Err() == nil {
		cp, err := g.cam.open(c)
		var n int
		if err == nil {
			n = g.read(ctx, cp)
			pos, total := cp.Position(), cp.Frames()
			if cerr := cp.Close(); cerr != nil {
				log.Warn().Err(cerr).Msg("closing the capture")
			}
			if ctx.Err() != nil {
				return nil
			}
			if err == nil && n == 0 {
				err = errNoFrame
			}
			if err == nil && c.file != "" {
				if total > 0 && pos < total-1 {
					log.Warn().Str("camera", c.id).Int("frame", pos).Int("frames", total).
						Msg("video ended early: the file is truncated or corrupt")
				}
				if !c.loop {
					return nil
				}
				failures, backoff = 0, c.minBackoff
				continue // start the file over at once
			}
		}
		if ctx.Err() != nil {
			return nil
		}
		if n > 0 {
			// It worked for a while: a dropped stream, not a dead one.
			failures, backoff = 0, c.minBackoff
			st.Reconnects.Add(1)
			log.Warn().Str("camera", c.id).Int("frames", n).Dur("retry_in", backoff).
				Msgf("%s stopped delivering frames; reconnecting", c.source())
		} else {
			failures++
			st.OpenFailures.Add(1)
			if c.maxAttempts > 0 && failures >= c.maxAttempts {
				return fmt.Errorf("camera %s: %s: giving up after %d attempts: %w", c.id, c.source(), failures, err)
			}
			log.Error().Str("camera", c.id).Err(err).Int("attempt", failures).Dur("retry_in", backoff).
				Msgf("camera %s unavailable; retrying", c.source())
		}
		if !sleep(ctx, backoff) {
			return nil
		}
		backoff = min(2*backoff, c.maxBackoff)
	}
	return nil
}

// read captures frames until the capture fails or ends, or ctx is done, and
// returns how many it read. A file is paced to its frame rate (or fps) when
// realtime; a live capture is read as fast as it delivers, frames beyond fps
// being dropped.
func (g *grabber) read(ctx context.Context, cp capture) int {
	c, st := &g.cam.cfg, &g.cam.stats
	live := c.file == ""
	var interval time.Duration
	rate := c.fps
	if rate == 0 && !live && c.realtime {
		rate = cp.FPS()
	}
	if rate > 0 && (live || c.realtime) {
		interval = time.Duration(float64(time.Second) / rate)
	}
	n := 0
	next := time.Now()
	for ctx.Err() == nil {
		if !live && interval > 0 {
			if !sleep(ctx, time.Until(next)) {
				return n
			}
		}
		f := g.pool.Get()
		if !cp.Read(&f.Mat) || f.Mat.Empty() {
			f.Release()
			return n
		}
		now := time.Now()
		n++
		st.Captured.Add(1)
		if interval > 0 {
			if live && now.Before(next) {
				st.Capped.Add(1)
				f.Release()
				continue
			}
			next = next.Add(interval)
			if now.Sub(next) > interval {
				next = now // fell behind (a stall): do not burst to catch up
			}
		}
		f.Camera, f.ID, f.Time = c.id, g.seq, now
		g.seq++
		if c.keepLatest {
			if old := g.slot.swap(f); old != nil {
				st.Skipped.Add(1)
				old.Release()
			}
		} else if !g.slot.put(ctx, f) {
			f.Release()
			return n
		}
		if c.statsEvery > 0 && now.Sub(g.last) >= c.statsEvery {
			g.last = now
			g.cam.logStats("camera running")
		}
	}
	return n
}

// sleep waits d or until ctx is done; false when ctx is done.
func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
