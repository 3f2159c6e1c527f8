//go:build gocv

package frame

import (
	"encoding/json"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"gocv.io/x/gocv"
)

// Frame is one captured image. The camera source puts it in
// Fields["frame"]; the source's message holds the only reference, released
// when the message is settled, which the engine does once every branch of a
// fan-out (clones share the *Frame) and every derived message is done. A
// component that keeps the frame past that, say to encode it later, takes
// its own reference with Retain.
//
// Mat must not be changed in place by consumers: other branches may be
// reading it. Draw on a copy.
type Frame struct {
	// Mat is the image, BGR, 8 bits per channel.
	Mat gocv.Mat
	// Camera is the id of the camera that took it.
	Camera string
	// ID counts the frames the camera captured, from 0.
	ID uint64
	// Time is the capture time.
	Time time.Time

	refs atomic.Int32
	pool *Pool

	mu     sync.Mutex
	onDone []func() // run at the last Release, see OnRelease
}

// Width is the image width in pixels.
func (f *Frame) Width() int { return f.Mat.Cols() }

// Height is the image height in pixels.
func (f *Frame) Height() int { return f.Mat.Rows() }

// Retain adds a reference.
func (f *Frame) Retain() { f.refs.Add(1) }

// OnRelease registers fn to run when the last reference is released, before
// the Mat goes back to its pool. A stage that derives something big from
// the frame (the image stage's input tensor) uses it to recycle that buffer
// exactly when the frame's message is settled, that is when no branch can
// read it any more. fn must not touch the frame.
func (f *Frame) OnRelease(fn func()) {
	f.mu.Lock()
	f.onDone = append(f.onDone, fn)
	f.mu.Unlock()
}

// Release drops a reference; the last one returns the Mat to its pool (or
// closes it).
func (f *Frame) Release() {
	switch n := f.refs.Add(-1); {
	case n > 0:
		return
	case n < 0:
		// A double release is a bug in a component; reusing a Mat that
		// someone may still read would corrupt frames silently.
		panic("edgeflow: frame released more often than retained")
	}
	f.mu.Lock()
	done := f.onDone
	f.onDone = f.onDone[:0]
	f.mu.Unlock()
	for i, fn := range done {
		fn()
		done[i] = nil
	}
	if f.pool == nil {
		f.Mat.Close()
		return
	}
	f.pool.put(f)
}

// MarshalJSON describes the frame without its pixels, so that a message
// carrying one still encodes to JSON.
func (f *Frame) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Camera string    `json:"camera"`
		ID     uint64    `json:"id"`
		Time   time.Time `json:"time"`
		Width  int       `json:"width"`
		Height int       `json:"height"`
	}{f.Camera, f.ID, f.Time, f.Width(), f.Height()})
}

// New wraps a Mat the caller hands over (it will be closed on the last
// Release) in a Frame with one reference and no pool.
func New(m gocv.Mat, camera string, id uint64, t time.Time) *Frame {
	f := &Frame{Mat: m, Camera: camera, ID: id, Time: t}
	f.refs.Store(1)
	return f
}

// From takes the frame out of a field value.
func From(v any) (*Frame, error) {
	f, ok := v.(*Frame)
	if !ok || f == nil {
		return nil, fmt.Errorf("field holds %T, want a camera frame (*frame.Frame)", v)
	}
	if f.Mat.Empty() {
		return nil, fmt.Errorf("frame %d of camera %q is empty", f.ID, f.Camera)
	}
	return f, nil
}

// Pool recycles frames so that capture reuses Mat buffers instead of
// allocating one per frame. It keeps at most Max idle frames; after Close,
// released frames are closed instead of kept.
type Pool struct {
	max    int
	mu     sync.Mutex
	free   []*Frame
	closed bool
}

// NewPool returns a pool that keeps up to max idle frames.
func NewPool(max int) *Pool { return &Pool{max: max} }

// Get returns a frame with one reference, reusing an idle one if there is
// one. Its Mat may hold an old image; the capture overwrites it.
func (p *Pool) Get() *Frame {
	p.mu.Lock()
	var f *Frame
	if n := len(p.free); n > 0 {
		f, p.free = p.free[n-1], p.free[:n-1]
	}
	p.mu.Unlock()
	if f == nil {
		f = &Frame{Mat: gocv.NewMat(), pool: p}
	}
	f.Camera, f.ID, f.Time = "", 0, time.Time{}
	f.refs.Store(1)
	return f
}

func (p *Pool) put(f *Frame) {
	p.mu.Lock()
	if !p.closed && len(p.free) < p.max {
		p.free = append(p.free, f)
		p.mu.Unlock()
		return
	}
	p.mu.Unlock()
	f.Mat.Close()
}

// Close closes the idle frames; frames still in use are closed when they
// are released.
func (p *Pool) Close() {
	p.mu.Lock()
	free := p.free
	p.free, p.closed = nil, true
	p.mu.Unlock()
	for _, f := range free {
		f.Mat.Close()
	}
}
