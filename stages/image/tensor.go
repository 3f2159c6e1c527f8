//go:build gocv

package image

import (
	"errors"
	"fmt"
	"runtime"
	"unsafe"

	"gocv.io/x/gocv"
)

// maxIdleTensors bounds the tensors a stage keeps for reuse: one per frame
// in flight is enough, and frames in flight are few (the camera's
// max_in_flight); more than this are freed when they come back.
const maxIdleTensors = 4

// tensor is a model input the stage reuses across frames: Go memory that
// the onnx stage hands to ONNX Runtime as it is, and a Mat header over the
// same memory, shaped as the NCHW blob, so that BlobFromImages writes the
// tensor in place (it reuses a destination of the right shape and type).
// The memory is pinned while a header exists: C code keeps a pointer to it,
// which cgo allows only for pinned Go memory.
type tensor struct {
	data          []float32
	width, height int
	mat           gocv.Mat // [1, 3, height, width] CV_32F over data
	pin           runtime.Pinner
}

func newTensor(width, height int) (*tensor, error) {
	t := &tensor{data: make([]float32, 3*width*height), width: width, height: height}
	t.pin.Pin(&t.data[0])
	m, err := t.header()
	if err != nil {
		t.pin.Unpin()
		return nil, err
	}
	t.mat = m
	return t, nil
}

// header makes a Mat over data.
func (t *tensor) header() (gocv.Mat, error) {
	raw := unsafe.Slice((*byte)(unsafe.Pointer(&t.data[0])), 4*len(t.data))
	m, err := gocv.NewMatWithSizesFromBytes([]int{1, 3, t.height, t.width}, gocv.MatTypeCV32F, raw)
	if err != nil {
		return gocv.Mat{}, fmt.Errorf("tensor header: %w", err)
	}
	return m, nil
}

// settle makes sure the blob OpenCV wrote into t.mat is in data. OpenCV
// writes in place when the header's shape and type are what it wants; had
// it reallocated instead, the values are copied over and a new header
// replaces the reallocated Mat, so the tensor is right either way.
func (t *tensor) settle() error {
	raw, err := t.mat.DataPtrFloat32()
	if err == nil && len(raw) == len(t.data) && unsafe.SliceData(raw) == unsafe.SliceData(t.data) {
		return nil
	}
	if err := t.copyFrom(t.mat); err != nil {
		return err
	}
	m, err := t.header()
	if err != nil {
		return err
	}
	t.mat.Close()
	t.mat = m
	return nil
}

// copyFrom copies a continuous float32 Mat of the tensor's size into data.
func (t *tensor) copyFrom(m gocv.Mat) error {
	if !m.IsContinuous() {
		return errors.New("OpenCV produced a non-continuous tensor")
	}
	raw, err := m.DataPtrFloat32()
	if err != nil {
		return fmt.Errorf("read tensor: %w", err)
	}
	if len(raw) != len(t.data) {
		return fmt.Errorf("OpenCV produced %d values, want %d", len(raw), len(t.data))
	}
	copy(t.data, raw)
	return nil
}

func (t *tensor) close() {
	t.mat.Close()
	t.pin.Unpin()
}

// getTensor returns an idle tensor or a new one.
func (s *Stage) getTensor() (*tensor, error) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, errClosed
	}
	if n := len(s.tensors); n > 0 {
		t := s.tensors[n-1]
		s.tensors = s.tensors[:n-1]
		s.mu.Unlock()
		return t, nil
	}
	s.mu.Unlock()
	return newTensor(s.opts.Width, s.opts.Height)
}

// putTensor takes a tensor back once nothing reads it any more; after
// Close, or beyond maxIdleTensors, it is freed.
func (s *Stage) putTensor(t *tensor) {
	s.mu.Lock()
	if !s.closed && len(s.tensors) < maxIdleTensors {
		s.tensors = append(s.tensors, t)
		s.mu.Unlock()
		return
	}
	s.mu.Unlock()
	t.close()
}
