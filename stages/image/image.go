//go:build gocv

package image

import (
	"context"
	"errors"
	"fmt"
	goimage "image"
	"image/color"
	"math"
	"slices"
	"sync"

	"github.com/edgeflow/edgeflow/component"
	"github.com/edgeflow/edgeflow/pipeline"
	"github.com/edgeflow/edgeflow/vision"
	"github.com/edgeflow/edgeflow/vision/frame"
	"gocv.io/x/gocv"
)

func init() { build = newStage }

// Options say how a frame becomes a tensor. They are the stage's config.
type Options struct {
	Width, Height int
	Stretch       bool // plain resize instead of letterbox
	Center        bool // centre the letterboxed image
	Pad           [3]float64
	RGB           bool // the model wants RGB
	NHWC          bool
	Mean, Std     [3]float64
}

// Stage is the image stage. It implements pipeline.Processor (safe for
// concurrent use) and pipeline.Closer.
type Stage struct {
	opts                      Options
	frameField, out, outShape string
	lbField                   string

	mu      sync.Mutex
	scratch []*scratch // idle scratch Mats, reused across frames
	tensors []*tensor  // idle tensors, reused across frames
	closed  bool
}

// scratch holds the intermediate Mats of one conversion so that a busy
// stage allocates no Mats per frame.
type scratch struct {
	resized, padded, color, f32 gocv.Mat
	mean, std                   gocv.Mat // per-channel normalisation, model-sized
}

func (s *scratch) close() {
	for _, m := range []*gocv.Mat{&s.resized, &s.padded, &s.color, &s.f32, &s.mean, &s.std} {
		m.Close()
	}
}

func three(conf *component.Config, name string) ([3]float64, error) {
	v := conf.FloatList(name)
	switch len(v) {
	case 1:
		return [3]float64{v[0], v[0], v[0]}, nil
	case 3:
		return [3]float64{v[0], v[1], v[2]}, nil
	}
	return [3]float64{}, conf.Errorf(name, "want one value or three (one per channel), got %d", len(v))
}

func newStage(conf *component.Config, _ *component.Resources) (any, error) {
	o := Options{
		Width: conf.Int("width"), Height: conf.Int("height"),
		Stretch: conf.String("resize") == "stretch", Center: conf.String("align") == "center",
		RGB: conf.String("color") == "rgb", NHWC: conf.String("layout") == "nhwc",
	}
	var err error
	if o.Pad, err = three(conf, "pad"); err != nil {
		return nil, err
	}
	if o.Mean, err = three(conf, "mean"); err != nil {
		return nil, err
	}
	if o.Std, err = three(conf, "std"); err != nil {
		return nil, err
	}
	for _, s := range o.Std {
		if s == 0 || math.IsNaN(s) || math.IsInf(s, 0) {
			return nil, conf.Errorf("std", "standard deviations must be finite and non-zero")
		}
	}
	return NewStage(o, conf.String("frame_field"), conf.String("output"),
		conf.String("shape_suffix"), conf.String("letterbox_field")), nil
}

// NewStage returns an image stage: it reads frames from frameField and
// writes the tensor to out, its shape to out+shapeSuffix and the letterbox
// to lbField.
func NewStage(o Options, frameField, out, shapeSuffix, lbField string) *Stage {
	return &Stage{opts: o, frameField: frameField, out: out, outShape: out + shapeSuffix, lbField: lbField}
}

// Process implements pipeline.Processor.
//
// A frame's tensor is written in place into a pooled buffer (no allocation,
// no copy: the onnx stage feeds that slice to ONNX Runtime as it is), which
// comes back to the pool when the frame's last reference is released, i.e.
// when the camera's message is settled and no branch can read the field
// any more. A decoded payload has no such moment, so its tensor is the
// message's own.
func (s *Stage) Process(_ context.Context, m *pipeline.Message, out pipeline.Emitter) error {
	var (
		data  []float32
		shape []int64
		lb    vision.Letterbox
		err   error
	)
	if v, ok := m.Fields[s.frameField]; ok {
		f, ferr := frame.From(v)
		if ferr != nil {
			return fmt.Errorf("field %q: %w", s.frameField, ferr)
		}
		t, terr := s.getTensor()
		if terr != nil {
			return terr
		}
		if shape, lb, err = s.convert(f.Mat, t); err != nil {
			s.putTensor(t)
			return err
		}
		f.OnRelease(func() { s.putTensor(t) })
		data = t.data
	} else if len(m.Payload) > 0 {
		img, derr := decode(m.Payload)
		if derr != nil {
			return fmt.Errorf("no %q field, and the payload is not an image (%d bytes): %w", s.frameField, len(m.Payload), derr)
		}
		defer img.Close()
		if data, shape, lb, err = s.Convert(img); err != nil {
			return err
		}
	} else {
		return fmt.Errorf("no %q field and no image payload", s.frameField)
	}
	if m.Fields == nil {
		m.Fields = make(map[string]any, 4)
	}
	m.Fields[s.out] = data
	m.Fields[s.outShape] = shape
	m.Fields[s.lbField] = lb
	out.Emit(m)
	return nil
}

// Convert turns a BGR image into the model's tensor, which the caller owns,
// and the letterbox that maps model pixels back to it.
func (s *Stage) Convert(src gocv.Mat) ([]float32, []int64, vision.Letterbox, error) {
	t, err := s.getTensor()
	if err != nil {
		return nil, nil, vision.Letterbox{}, err
	}
	defer s.putTensor(t)
	shape, lb, err := s.convert(src, t)
	if err != nil {
		return nil, nil, lb, err
	}
	return slices.Clone(t.data), shape, lb, nil
}

// convert writes src's tensor into t.data and returns its shape and the
// letterbox.
func (s *Stage) convert(src gocv.Mat, t *tensor) ([]int64, vision.Letterbox, error) {
	o := &s.opts
	if src.Empty() || src.Channels() != 3 || src.Type() != gocv.MatTypeCV8UC3 {
		return nil, vision.Letterbox{}, fmt.Errorf("want a non-empty 8-bit BGR image, got %dx%d type %v", src.Cols(), src.Rows(), src.Type())
	}
	var (
		lb  vision.Letterbox
		err error
	)
	if o.Stretch {
		lb, err = vision.Stretch(src.Cols(), src.Rows(), o.Width, o.Height)
	} else {
		place := vision.TopLeft
		if o.Center {
			place = vision.Center
		}
		lb, err = vision.FitLetterbox(src.Cols(), src.Rows(), o.Width, o.Height, place)
	}
	if err != nil {
		return nil, lb, err
	}
	sc, err := s.get()
	if err != nil {
		return nil, lb, err
	}
	defer s.put(sc)

	// Fit: resize, then pad to the model's size.
	img := src
	w, h := lb.Resized()
	if w != src.Cols() || h != src.Rows() {
		gocv.Resize(src, &sc.resized, goimage.Pt(w, h), 0, 0, gocv.InterpolationLinear)
		img = sc.resized
	}
	if w != o.Width || h != o.Height {
		top, left := int(lb.PadY), int(lb.PadX)
		pad := color.RGBA{B: uint8(o.Pad[0]), G: uint8(o.Pad[1]), R: uint8(o.Pad[2])}
		gocv.CopyMakeBorder(img, &sc.padded, top, o.Height-h-top, left, o.Width-w-left, gocv.BorderConstant, pad)
		img = sc.padded
	}

	// Normalise and lay out. With one std for all channels (and NCHW),
	// BlobFromImage does colour, mean, scale and layout in one pass. NCHW
	// blobs are written straight into t; NHWC is copied into it.
	sameStd := o.Std[0] == o.Std[1] && o.Std[1] == o.Std[2]
	size := goimage.Pt(o.Width, o.Height)
	nchw := []int64{1, 3, int64(o.Height), int64(o.Width)}
	if !o.NHWC && sameStd {
		gocv.BlobFromImages([]gocv.Mat{img}, &t.mat, 1/o.Std[0], size,
			gocv.NewScalar(o.Mean[0], o.Mean[1], o.Mean[2], 0), o.RGB, false, gocv.MatTypeCV32F)
		return nchw, lb, t.settle()
	}
	if o.RGB {
		gocv.CvtColor(img, &sc.color, gocv.ColorBGRToRGB)
		img = sc.color
	}
	img.ConvertTo(&sc.f32, gocv.MatTypeCV32FC3)
	gocv.Subtract(sc.f32, sc.mean, &sc.f32)
	gocv.Divide(sc.f32, sc.std, &sc.f32)
	if !o.NHWC {
		gocv.BlobFromImages([]gocv.Mat{sc.f32}, &t.mat, 1, size, gocv.NewScalar(0, 0, 0, 0), false, false, gocv.MatTypeCV32F)
		return nchw, lb, t.settle()
	}
	if err := t.copyFrom(sc.f32); err != nil {
		return nil, lb, err
	}
	return []int64{1, int64(o.Height), int64(o.Width), 3}, lb, nil
}

func (s *Stage) get() (*scratch, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, errClosed
	}
	if n := len(s.scratch); n > 0 {
		sc := s.scratch[n-1]
		s.scratch = s.scratch[:n-1]
		return sc, nil
	}
	o := &s.opts
	return &scratch{
		resized: gocv.NewMat(), padded: gocv.NewMat(), color: gocv.NewMat(), f32: gocv.NewMat(),
		mean: gocv.NewMatWithSizeFromScalar(gocv.NewScalar(o.Mean[0], o.Mean[1], o.Mean[2], 0), o.Height, o.Width, gocv.MatTypeCV32FC3),
		std:  gocv.NewMatWithSizeFromScalar(gocv.NewScalar(o.Std[0], o.Std[1], o.Std[2], 0), o.Height, o.Width, gocv.MatTypeCV32FC3),
	}, nil
}

func (s *Stage) put(sc *scratch) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		sc.close()
		return
	}
	s.scratch = append(s.scratch, sc)
}

var errClosed = errors.New("image stage closed")

// Close implements pipeline.Closer: it frees the scratch Mats and the idle
// tensors; tensors still in flight are freed when their frames are released.
func (s *Stage) Close(context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, sc := range s.scratch {
		sc.close()
	}
	for _, t := range s.tensors {
		t.close()
	}
	s.scratch, s.tensors, s.closed = nil, nil, true
	return nil
}
