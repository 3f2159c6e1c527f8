package models

import (
	"errors"
	"fmt"
	"slices"
	"sync/atomic"

	ort "github.com/yalue/onnxruntime_go"
)

// Tensor is a dense float32 tensor in row-major order, the form in which
// edgeflow passes model inputs and outputs around.
type Tensor struct {
	Shape []int64
	Data  []float32
}

// Elements returns the number of elements the shape holds.
func Elements(shape []int64) int64 {
	n := int64(1)
	for _, d := range shape {
		n *= d
	}
	return n
}

// BoundedElements is Elements for a shape read from a file or given by a
// user: it reports false unless every dimension is positive and the count
// stays within limit as it is multiplied, so that no product wraps around
// int64 (3 × 6148914691236517206 is 2) into a count that passes.
func BoundedElements(shape []int64, limit int64) (int64, bool) {
	n := int64(1)
	for _, d := range shape {
		if d <= 0 || n > limit/d {
			return 0, false
		}
		n *= d
	}
	return n, true
}

// ShapeError reports an input that does not fit the model.
type ShapeError struct {
	Input string
	Msg   string
}

func (e *ShapeError) Error() string { return fmt.Sprintf("input %q: %s", e.Input, e.Msg) }

// Session is one loaded model: an ONNX Runtime session plus its description.
// It is safe for concurrent use (ORT's Run is thread-safe on one session).
type Session struct {
	info *Info
	sess *ort.DynamicAdvancedSession
	// prealloc[i] says whether output i's shape is known before a run once
	// the batch size is, so that ORT can write straight into Go memory.
	prealloc []bool
	// free holds ORT tensors from earlier runs for reuse: creating and
	// destroying them costs more than a small model's run. Bounded, so that
	// concurrent runs never pile them up; Close destroys what is left.
	free chan *runBuffers
	// last is the set the last run gave back, tried before free: one
	// atomic swap instead of two channel operations per run, which a
	// small model's run at batch 1 notices.
	last atomic.Pointer[runBuffers]
}

// reuseLimit is the largest tensor, in elements, that runs copy into and
// out of reused ORT tensors; larger ones wrap Go memory per run, since
// copying them costs more than creating an ORT value.
const reuseLimit = 16 << 10

// runBuffers are the reused input and output tensors of runs at one set of
// input shapes.
type runBuffers struct {
	batch     int64
	shapes    [][]int64
	ins       []*ort.Tensor[float32] // nil for a large input
	outs      []*ort.Tensor[float32] // nil for a large or ORT-allocated output
	outShapes []ort.Shape            // nil where ORT allocates the output
	// bind has every input and output bound when all of them are reused
	// tensors: a run is then one cgo call with no Go allocation (Run's
	// slices of values cost more than a small model's Go side otherwise).
	bind *ort.IoBinding
	// lent is the array a run hands its outputs over in (see lend).
	lent []Output
}

func (b *runBuffers) destroy() {
	if b.bind != nil {
		b.bind.Destroy()
	}
	for _, t := range b.ins {
		if t != nil {
			destroyTensor(t)
		}
	}
	for _, t := range b.outs {
		if t != nil {
			destroyTensor(t)
		}
	}
}

// NewSession loads a serialised model into ONNX Runtime.
func NewSession(data []byte, opts Options) (*Session, error) {
	if err := Init(""); err != nil {
		return nil, err
	}
	info, err := InspectBytes(data)
	if err != nil {
		return nil, err
	}
	// ORT's Go binding indexes the first input and output of a run: a
	// model without both would panic there (found by FuzzOpen).
	if len(info.Inputs) == 0 || len(info.Outputs) == 0 {
		return nil, fmt.Errorf("model has %d inputs and %d outputs; it needs at least one of each", len(info.Inputs), len(info.Outputs))
	}
	so, err := opts.sessionOptions()
	if err != nil {
		return nil, err
	}
	defer so.Destroy()
	sess, err := ort.NewDynamicAdvancedSessionWithONNXData(data, info.InputNames(), info.OutputNames(), so)
	if err != nil {
		return nil, fmt.Errorf("create ONNX Runtime session: %w", err)
	}
	liveSessions.Add(1)
	s := &Session{info: info, sess: sess, prealloc: make([]bool, len(info.Outputs)), free: make(chan *runBuffers, 8)}
	batchName := ""
	for _, in := range info.Inputs {
		if in.DynamicBatch() {
			batchName = in.DimNames[0]
			break
		}
	}
	for i, out := range info.Outputs {
		s.prealloc[i] = out.Float32() && knownShape(out, batchName)
	}
	return s, nil
}

// knownShape reports whether an output's shape is fixed, or fixed but for a
// leading dimension that shares the inputs' batch dimension's name.
func knownShape(out IO, batchName string) bool {
	for i, d := range out.Shape {
		if d >= 0 {
			continue
		}
		if i == 0 && batchName != "" && out.DimNames[0] == batchName {
			continue
		}
		return false
	}
	return true
}

// Info describes the session's model. Treat it as read-only.
func (s *Session) Info() *Info { return s.info }

// Close releases the ONNX Runtime session. No run may be in progress.
func (s *Session) Close() error {
	if b := s.last.Swap(nil); b != nil {
		b.destroy()
	}
	for {
		select {
		case b := <-s.free:
			b.destroy()
			continue
		default:
		}
		break
	}
	if err := s.sess.Destroy(); err != nil {
		return fmt.Errorf("destroy session: %w", err)
	}
	liveSessions.Add(-1)
	return nil
}

// Run runs the model on inputs, given in the model's input order, and
// returns its outputs in the model's output order. Inputs must be float32
// and fit the model's shapes (dynamic dimensions take any size); a misfit
// returns a *ShapeError. Every ORT value is released before Run returns; the
// output data is Go memory that the caller owns.
func (s *Session) Run(inputs []Tensor) ([]Tensor, error) {
	return s.RunInto(inputs, nil)
}

// RunInto is Run writing the outputs into dst's array when it has room for
// them, and returning dst resliced (or a new slice when it has not). A
// caller running at a high rate passes an array on its stack and spares
// an allocation per run; the outputs' data and shapes are still new and
// the caller's.
func (s *Session) RunInto(inputs []Tensor, dst []Tensor) ([]Tensor, error) {
	var result []Tensor
	err := s.RunFunc(inputs, func(outs []Output) {
		result = slices.Grow(dst[:0], len(outs))[:len(outs)]
		for i, o := range outs {
			result[i] = o.Tensor
			if o.Lent { // the session's buffer: the caller gets a copy it owns
				result[i] = Tensor{Shape: slices.Clone(o.Shape), Data: slices.Clone(o.Data)}
			}
		}
	})
	if err != nil {
		return nil, err
	}
	return result, nil
}

// Output is one output of a run as RunFunc hands it over.
type Output struct {
	Tensor
	// Lent is set when Data and Shape are the session's reused buffers,
	// valid only until RunFunc's use returns; otherwise they are new
	// memory (a large output) that the caller may keep.
	Lent bool
}

// RunFunc runs the model on inputs as Run does and calls use with the
// outputs in the model's output order, without copying the ones the
// session keeps in reused buffers (see Output.Lent). A caller that copies
// them into memory of its own (a message's reused field, see
// pipeline.SetSlice) spares Run's copy and its allocations. use is not
// called when the run fails.
func (s *Session) RunFunc(inputs []Tensor, use func(outs []Output)) error {
	if len(inputs) != len(s.info.Inputs) {
		return fmt.Errorf("model takes %d inputs, got %d", len(s.info.Inputs), len(inputs))
	}
	batch := int64(-1)
	for i, in := range inputs {
		if err := checkInput(s.info.Inputs[i], in); err != nil {
			return err
		}
		if batch < 0 && s.info.Inputs[i].DynamicBatch() {
			batch = in.Shape[0]
		}
	}
	buf, err := s.buffers(inputs, batch)
	if err != nil {
		return err
	}
	defer s.recycle(buf)
	if buf.bind != nil {
		return s.runBound(inputs, buf, use)
	}
	// Small tensors come from buf (copied in and out); large ones wrap Go
	// memory directly, which saves copying megabytes per camera frame.
	var wrapped []ort.Value
	defer func() {
		for _, v := range wrapped {
			destroyTensor(v)
		}
	}()
	ins := make([]ort.Value, len(inputs))
	for i, in := range inputs {
		if buf.ins[i] != nil {
			copy(buf.ins[i].GetData(), in.Data)
			ins[i] = buf.ins[i]
			continue
		}
		t, err := ort.NewTensor(ort.Shape(in.Shape), in.Data)
		if err != nil {
			return fmt.Errorf("input %q: %w", s.info.Inputs[i].Name, err)
		}
		liveTensors.Add(1)
		ins[i] = t
		wrapped = append(wrapped, t)
	}
	outs := make([]ort.Value, len(s.info.Outputs))
	for i := range s.info.Outputs {
		switch shape := buf.outShapes[i]; {
		case buf.outs[i] != nil:
			outs[i] = buf.outs[i]
		case shape != nil:
			t, err := ort.NewTensor(shape, make([]float32, shape.FlattenedSize()))
			if err != nil {
				return fmt.Errorf("output %q: %w", s.info.Outputs[i].Name, err)
			}
			liveTensors.Add(1)
			outs[i] = t
			wrapped = append(wrapped, t)
		}
	}
	err = s.sess.Run(ins, outs)
	for i, v := range outs {
		if v != nil && buf.outShapes[i] == nil {
			liveTensors.Add(1) // allocated by Run, ours to destroy
		}
	}
	defer func() {
		for i, v := range outs {
			if v != nil && buf.outShapes[i] == nil {
				destroyTensor(v)
			}
		}
	}()
	if err != nil {
		return fmt.Errorf("run: %w", err)
	}
	result := slices.Grow(buf.lent[:0], len(outs))[:len(outs)]
	for i, v := range outs {
		t, err := toTensor(v)
		if err != nil {
			return fmt.Errorf("output %q: %w", s.info.Outputs[i].Name, err)
		}
		// toTensor's data is Go memory made for this run, except a reused
		// buffer's.
		result[i] = Output{Tensor: t, Lent: buf.outs[i] != nil}
	}
	s.lend(buf, result, use)
	return nil
}

// runBound runs inputs through buf's bound tensors and lends use the
// outputs: buf's own data and shapes.
func (s *Session) runBound(inputs []Tensor, buf *runBuffers, use func([]Output)) error {
	for i, in := range inputs {
		copy(buf.ins[i].GetData(), in.Data)
	}
	if err := s.sess.RunWithBinding(buf.bind); err != nil {
		return fmt.Errorf("run: %w", err)
	}
	result := slices.Grow(buf.lent[:0], len(buf.outs))[:len(buf.outs)]
	for i, t := range buf.outs {
		result[i] = Output{Tensor: Tensor{Shape: buf.outShapes[i], Data: t.GetData()}, Lent: true}
	}
	s.lend(buf, result, use)
	return nil
}

// lend calls use with outs and keeps their array in buf for the next run
// (an array on the stack would escape into use), emptied: lent no longer.
func (s *Session) lend(buf *runBuffers, outs []Output, use func([]Output)) {
	use(outs)
	clear(outs)
	buf.lent = outs
}

// buffers returns tensors for a run of inputs at batch size batch: reused
// ones when a free set fits, else new ones.
func (s *Session) buffers(inputs []Tensor, batch int64) (*runBuffers, error) {
	if b := s.last.Swap(nil); b != nil {
		if b.fits(inputs, batch) {
			return b, nil
		}
		s.recycleSlow(b)
	}
	select {
	case b := <-s.free:
		if b.fits(inputs, batch) {
			return b, nil
		}
		b.destroy()
	default:
	}
	n := len(s.info.Outputs)
	b := &runBuffers{batch: batch, ins: make([]*ort.Tensor[float32], len(inputs)),
		outs: make([]*ort.Tensor[float32], n), outShapes: make([]ort.Shape, n)}
	for i, in := range inputs {
		b.shapes = append(b.shapes, slices.Clone(in.Shape))
		if len(in.Data) > reuseLimit {
			continue
		}
		t, err := ort.NewEmptyTensor[float32](ort.Shape(in.Shape).Clone())
		if err != nil {
			b.destroy()
			return nil, fmt.Errorf("input %q: %w", s.info.Inputs[i].Name, err)
		}
		liveTensors.Add(1)
		b.ins[i] = t
	}
	for i, out := range s.info.Outputs {
		if !s.prealloc[i] {
			continue // ORT allocates; onnxruntime_go copies it into Go memory
		}
		shape := ort.Shape(out.Shape).Clone()
		if len(shape) > 0 && shape[0] < 0 {
			shape[0] = batch
		}
		if shape.Validate() != nil {
			continue
		}
		b.outShapes[i] = shape
		if shape.FlattenedSize() > reuseLimit {
			continue
		}
		t, err := ort.NewEmptyTensor[float32](shape)
		if err != nil {
			b.destroy()
			return nil, fmt.Errorf("output %q: %w", out.Name, err)
		}
		liveTensors.Add(1)
		b.outs[i] = t
	}
	if err := s.bind(b); err != nil {
		b.destroy()
		return nil, err
	}
	return b, nil
}

// bind binds b's tensors to their names when every input and output has a
// reused tensor; otherwise runs pass values per run.
func (s *Session) bind(b *runBuffers) error {
	if slices.Contains(b.ins, nil) || slices.Contains(b.outs, nil) {
		return nil
	}
	bind, err := s.sess.CreateIoBinding()
	if err != nil {
		return fmt.Errorf("create I/O binding: %w", err)
	}
	b.bind = bind // destroyed with b from here on
	for i, t := range b.ins {
		if err := bind.BindInput(s.info.Inputs[i].Name, t); err != nil {
			return fmt.Errorf("bind input %q: %w", s.info.Inputs[i].Name, err)
		}
	}
	for i, t := range b.outs {
		if err := bind.BindOutput(s.info.Outputs[i].Name, t); err != nil {
			return fmt.Errorf("bind output %q: %w", s.info.Outputs[i].Name, err)
		}
	}
	return nil
}

// fits reports whether b was made for inputs of these shapes.
func (b *runBuffers) fits(inputs []Tensor, batch int64) bool {
	if b.batch != batch || len(b.shapes) != len(inputs) {
		return false
	}
	for i, in := range inputs {
		if !slices.Equal(b.shapes[i], in.Shape) {
			return false
		}
	}
	return true
}

// recycle keeps b for a later run, or destroys it when enough are kept.
func (s *Session) recycle(b *runBuffers) {
	if !s.last.CompareAndSwap(nil, b) {
		s.recycleSlow(b)
	}
}

// recycleSlow keeps b in the bounded free list, or destroys it when full.
func (s *Session) recycleSlow(b *runBuffers) {
	select {
	case s.free <- b:
	default:
		b.destroy()
	}
}

func checkInput(io IO, in Tensor) error {
	if !io.Float32() {
		return &ShapeError{io.Name, fmt.Sprintf("model wants %s %s; only float32 tensors are supported", io.Kind, io.Type)}
	}
	if len(in.Shape) != len(io.Shape) {
		return &ShapeError{io.Name, fmt.Sprintf("shape %v has rank %d, model wants %s", in.Shape, len(in.Shape), io.ShapeString())}
	}
	for i, d := range in.Shape {
		if d <= 0 || (io.Shape[i] >= 0 && io.Shape[i] != d) {
			return &ShapeError{io.Name, fmt.Sprintf("shape %v does not fit the model's %s", in.Shape, io.ShapeString())}
		}
	}
	if n := Elements(in.Shape); n != int64(len(in.Data)) {
		return &ShapeError{io.Name, fmt.Sprintf("shape %v needs %d values, got %d", in.Shape, n, len(in.Data))}
	}
	return nil
}

// toTensor takes the data of an output value as float32. The Go slice
// behind an onnxruntime_go tensor outlives the tensor's Destroy, so float32
// outputs are not copied.
func toTensor(v ort.Value) (Tensor, error) {
	if v == nil {
		return Tensor{}, errors.New("missing output value")
	}
	shape := []int64(v.GetShape())
	switch t := v.(type) {
	case *ort.Tensor[float32]:
		return Tensor{Shape: shape, Data: t.GetData()}, nil
	case *ort.Tensor[float64]:
		return Tensor{Shape: shape, Data: convert(t.GetData())}, nil
	case *ort.Tensor[int64]:
		return Tensor{Shape: shape, Data: convert(t.GetData())}, nil
	case *ort.Tensor[int32]:
		return Tensor{Shape: shape, Data: convert(t.GetData())}, nil
	case *ort.Tensor[int16]:
		return Tensor{Shape: shape, Data: convert(t.GetData())}, nil
	case *ort.Tensor[int8]:
		return Tensor{Shape: shape, Data: convert(t.GetData())}, nil
	case *ort.Tensor[uint8]:
		return Tensor{Shape: shape, Data: convert(t.GetData())}, nil
	case *ort.Tensor[uint16]:
		return Tensor{Shape: shape, Data: convert(t.GetData())}, nil
	case *ort.Tensor[uint32]:
		return Tensor{Shape: shape, Data: convert(t.GetData())}, nil
	case *ort.Tensor[uint64]:
		return Tensor{Shape: shape, Data: convert(t.GetData())}, nil
	case *ort.Tensor[bool]:
		data := t.GetData()
		out := make([]float32, len(data))
		for i, b := range data {
			if b {
				out[i] = 1
			}
		}
		return Tensor{Shape: shape, Data: out}, nil
	}
	return Tensor{}, fmt.Errorf("output of type %T cannot be turned into float32", v)
}

func convert[T int8 | uint8 | int16 | uint16 | int32 | uint32 | int64 | uint64 | float64](in []T) []float32 {
	out := make([]float32, len(in))
	for i, x := range in {
		out[i] = float32(x)
	}
	return out
}
