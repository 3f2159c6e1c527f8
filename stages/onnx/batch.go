package onnx

import (
	"fmt"
	"math"
	"slices"
	"strconv"

	"github.com/edgeflow/edgeflow/codec"
	"github.com/edgeflow/edgeflow/models"
	"github.com/edgeflow/edgeflow/pipeline"
)

// mode is how a model's batch dimension lets messages share a run.
type mode int

const (
	// modeDynamic: dimension 0 of every input is dynamic; any number of
	// same-shaped samples stack into one run.
	modeDynamic mode = iota
	// modeFixed: dimension 0 of every input is the same fixed k; messages
	// run in groups of k, the last one padded with zeros.
	modeFixed
	// modeWhole: no batch dimension; each message is one whole input.
	modeWhole
)

func planMode(info *models.Info) (mode, int64) {
	dynamic, k := true, int64(-1)
	for _, in := range info.Inputs {
		dynamic = dynamic && in.DynamicBatch()
		if len(in.Shape) < 2 || in.Shape[0] <= 0 || (k > 0 && in.Shape[0] != k) {
			k = 0
		} else if k < 0 {
			k = in.Shape[0]
		}
	}
	switch {
	case dynamic:
		return modeDynamic, 0
	case k > 0:
		return modeFixed, k
	}
	return modeWhole, 0
}

// sample is one message's inputs in model input order; in the batching
// modes the shapes leave out the batch dimension.
type sample struct {
	idx int             // in the batch
	ins []models.Tensor // one per model input
}

// sameShapes reports whether a and b can stack into one run.
func sameShapes(a, b sample) bool {
	return slices.EqualFunc(a.ins, b.ins, func(x, y models.Tensor) bool { return slices.Equal(x.Shape, y.Shape) })
}

// shapeKey names a sample's shapes, to group samples that can stack.
func shapeKey(smp sample) string {
	var key []byte
	for _, in := range smp.ins {
		for _, d := range in.Shape {
			key = strconv.AppendInt(key, d, 10)
			key = append(key, ',')
		}
		key = append(key, ';')
	}
	return string(key)
}

// runBatch runs every message of batch, recording per-message errors.
func (s *Stage) runBatch(sess *models.Session, batch []*pipeline.Message, errs []error) {
	info := sess.Info()
	md, k := planMode(info)
	if len(batch) == 1 && len(info.Inputs) <= maxStackInputs {
		s.runOne(sess, batch, errs)
		return
	}
	samples := make([]sample, 0, len(batch))
	ins := make([]models.Tensor, len(batch)*len(info.Inputs)) // every sample's, in one array
	for i, m := range batch {
		smp, err := s.extract(info, md, m, ins[i*len(info.Inputs):(i+1)*len(info.Inputs):(i+1)*len(info.Inputs)])
		if err != nil {
			errs[i] = err
			continue
		}
		smp.idx = i
		samples = append(samples, smp)
	}
	if md == modeWhole {
		for i := range samples {
			s.runGroup(sess, samples[i:i+1], 0, false, batch, errs)
		}
		return
	}
	groups := groupByShape(samples)
	if groups == nil { // one shape (or no sample): no grouping to allocate
		s.runShape(sess, samples, md, k, batch, errs)
		return
	}
	for _, group := range groups {
		s.runShape(sess, group, md, k, batch, errs)
	}
}

// maxStackInputs is the most model inputs runOne keeps on the stack.
const maxStackInputs = 4

// runOne is runBatch for a batch of one message, the common case with a
// model at batch 1: its sample and inputs live on the stack, so that the
// stage's own work per message allocates only what the message keeps.
func (s *Stage) runOne(sess *models.Session, batch []*pipeline.Message, errs []error) {
	info := sess.Info()
	md, k := planMode(info)
	var ins [maxStackInputs]models.Tensor
	smp, err := s.extract(info, md, batch[0], ins[:len(info.Inputs)])
	if err != nil {
		errs[0] = err
		return
	}
	one := [1]sample{smp}
	if md == modeWhole {
		s.runGroup(sess, one[:], 0, false, batch, errs)
		return
	}
	s.runShape(sess, one[:], md, k, batch, errs)
}

// runShape runs samples of one shape, all together or, with a fixed batch
// of k, k at a time.
func (s *Stage) runShape(sess *models.Session, group []sample, md mode, k int64, batch []*pipeline.Message, errs []error) {
	step := len(group)
	if md == modeFixed {
		step = int(k)
	}
	for lo := 0; lo < len(group); lo += step {
		s.runGroup(sess, group[lo:min(lo+step, len(group))], k, true, batch, errs)
	}
}

// groupByShape splits samples into runs of one shape, keeping batch order
// inside each group. It returns nil in the common case, when all samples
// share a shape (or there are none).
func groupByShape(samples []sample) [][]sample {
	same := true
	for _, smp := range samples[min(1, len(samples)):] {
		if !sameShapes(smp, samples[0]) {
			same = false
			break
		}
	}
	if same {
		return nil
	}
	var order []string
	groups := map[string][]sample{}
	for _, smp := range samples {
		key := shapeKey(smp)
		if _, seen := groups[key]; !seen {
			order = append(order, key)
		}
		// A copy of the inputs: samples' own may live on the caller's stack.
		groups[key] = append(groups[key], sample{idx: smp.idx, ins: slices.Clone(smp.ins)})
	}
	out := make([][]sample, len(order))
	for i, key := range order {
		out[i] = groups[key]
	}
	return out
}

// runGroup runs samples together (stacked along dimension 0 when batched,
// padded to pad samples when pad > 0) and writes each message's outputs. A
// failed run of several samples is retried one by one, so that only the
// sample at fault fails.
func (s *Stage) runGroup(sess *models.Session, group []sample, pad int64, batched bool, batch []*pipeline.Message, errs []error) {
	info := sess.Info()
	size := int64(len(group))
	if pad > 0 {
		size = pad
	}
	var small [4]models.Tensor
	inputs := small[:0]
	switch {
	case batched && len(info.Inputs) <= len(small):
		inputs = small[:len(info.Inputs)]
	case batched:
		inputs = make([]models.Tensor, len(info.Inputs))
	}
	first := group[0]
	if !batched {
		inputs = first.ins
	}
	for j := range info.Inputs {
		if !batched {
			break
		}
		if size == 1 {
			inputs[j] = models.Tensor{Shape: s.oneShape(j, first.ins[j].Shape), Data: first.ins[j].Data} // no copy
			continue
		}
		shape := make([]int64, 0, len(first.ins[j].Shape)+1)
		shape = append(append(shape, size), first.ins[j].Shape...)
		per := len(first.ins[j].Data)
		data := make([]float32, int(size)*per)
		for i, smp := range group {
			copy(data[i*per:], smp.ins[j].Data)
		}
		inputs[j] = models.Tensor{Shape: shape, Data: data}
	}
	if !batched || size == 1 {
		s.runSingle(sess, inputs, batch[first.idx], first.idx, errs)
		return
	}
	var results [maxStackOutputs]models.Tensor // RunInto's, when they fit
	start := clock()
	outs, err := sess.RunInto(inputs, results[:0])
	s.metrics.inference.observe(int64(clock() - start))
	s.metrics.batch.observe(int64(len(group)))
	if err != nil {
		if len(group) > 1 {
			for i := range group {
				s.runGroup(sess, group[i:i+1], pad, batched, batch, errs)
			}
			return
		}
		errs[group[0].idx] = err
		return
	}
	// Check every output can be split before writing any field.
	split := batched && size > 1
	for j, t := range outs {
		if split && (len(t.Shape) == 0 || t.Shape[0] != size) {
			err := fmt.Errorf("output %q has shape %v: dimension 0 is not the batch size %d, so it cannot be split per message",
				info.Outputs[j].Name, t.Shape, size)
			for _, smp := range group {
				errs[smp.idx] = err
			}
			return
		}
	}
	// Field names, and the messages' shapes of each output in one array:
	// allocations per run, not per message.
	names := make([][2]string, len(outs))
	shapes := make([][]int64, len(outs))
	for j, t := range outs {
		if field := s.outputField(info.Outputs[j].Name); field != "" {
			names[j] = [2]string{field, s.shapeField(field)}
		}
		if split {
			r := len(t.Shape)
			shapes[j] = make([]int64, len(group)*r)
			for i := range group {
				shape := shapes[j][i*r : (i+1)*r]
				shape[0] = 1
				copy(shape[1:], t.Shape[1:])
			}
		}
	}
	for i, smp := range group {
		m := batch[smp.idx]
		if m.Fields == nil {
			m.Fields = make(map[string]any, 2*len(outs))
		}
		for j, t := range outs {
			if names[j][0] == "" {
				continue
			}
			data, shape := t.Data, t.Shape
			if split {
				per, r := len(t.Data)/int(size), len(t.Shape)
				data = t.Data[i*per : (i+1)*per : (i+1)*per]
				shape = shapes[j][i*r : (i+1)*r : (i+1)*r]
			}
			m.Fields[names[j][0]] = data
			m.Fields[names[j][1]] = shape
		}
	}
}

// runSingle runs one message's inputs and copies the outputs the session
// keeps in reused buffers into its fields with pipeline.SetSlice: on a
// message its component reuses (a window), into the slices its last use
// had, so that a model at batch 1 costs the message no allocation; those
// buffers are read in place (Session.RunFunc), not copied first. A large
// output (a detector's) is new memory per run and becomes the field as it is.
func (s *Stage) runSingle(sess *models.Session, inputs []models.Tensor, m *pipeline.Message, idx int, errs []error) {
	info := sess.Info()
	start := clock()
	err := sess.RunFunc(inputs, func(outs []models.Output) {
		for j, o := range outs {
			field := s.outputField(info.Outputs[j].Name)
			if field == "" {
				continue
			}
			if !o.Lent { // a large output, new memory: the message takes it
				if m.Fields == nil {
					m.Fields = make(map[string]any, 2*len(outs))
				}
				m.Fields[field], m.Fields[s.shapeField(field)] = o.Data, o.Shape
				continue
			}
			copy(pipeline.SetSlice[float32](m, field, len(o.Data)), o.Data)
			copy(pipeline.SetSlice[int64](m, s.shapeField(field), len(o.Shape)), o.Shape)
		}
	})
	s.metrics.inference.observe(int64(clock() - start))
	s.metrics.batch.observe(1)
	if err != nil {
		errs[idx] = err
	}
}

// maxStackOutputs is the most model outputs runGroup takes on its stack.
const maxStackOutputs = 4

// oneShape returns the shape of input j at batch size 1: 1 followed by
// the sample's shape. It keeps the last one made per input and hands it
// out again while the sample's shape stays the same, as it does run after
// run at batch 1, so that a message needs no new shape. The slice is
// shared and never written: models.Session reads input shapes and copies
// what it keeps.
func (s *Stage) oneShape(j int, sample []int64) []int64 {
	if j < len(s.oneShapes) {
		if p := s.oneShapes[j].Load(); p != nil && slices.Equal((*p)[1:], sample) {
			return *p
		}
	}
	shape := append([]int64{1}, sample...)
	if j < len(s.oneShapes) {
		s.oneShapes[j].Store(&shape)
	}
	return shape
}

// shapeField names the field that carries field's shape.
func (s *Stage) shapeField(field string) string {
	if name, ok := s.shapeFields[field]; ok {
		return name
	}
	return field + s.suffix // every output, mapped to its own name
}

func (s *Stage) outputField(name string) string {
	if s.outputs == nil {
		return name
	}
	return s.outputs[name]
}

// extract reads a message's inputs into ins (one per model input) and fits
// them to the model's shapes.
func (s *Stage) extract(info *models.Info, md mode, m *pipeline.Message, ins []models.Tensor) (sample, error) {
	smp := sample{ins: ins}
	for j, in := range info.Inputs {
		names := s.inputFields[in.Name]
		field := names[0]
		v, ok := m.Fields[field]
		if !ok || v == nil {
			return smp, fmt.Errorf("model input %q: field %q is %w", in.Name, field, errNoValue)
		}
		data, shape, err := toFloat32(v)
		if err != nil {
			return smp, fmt.Errorf("model input %q: field %q: %w", in.Name, field, err)
		}
		if shape == nil {
			if sv, ok := m.Fields[names[1]]; ok {
				if shape, err = codec.FieldShape(sv); err != nil {
					return smp, fmt.Errorf("model input %q: field %q: %w", in.Name, names[1], err)
				}
			}
		}
		want := in.Shape
		if md != modeWhole {
			want = in.Shape[1:]
		}
		shape, err = fitShape(want, shape, len(data), md != modeWhole)
		if err != nil {
			return smp, fmt.Errorf("model input %q (%s): field %q: %w", in.Name, in.ShapeString(), field, err)
		}
		smp.ins[j] = models.Tensor{Shape: shape, Data: data}
	}
	return smp, nil
}

// fitShape returns the shape of n values for a model shape want (-1 for a
// dynamic dimension). given, if not nil, is the shape the message states;
// in a batching mode it may carry a leading batch dimension of 1.
func fitShape(want, given []int64, n int, batched bool) ([]int64, error) {
	if given != nil {
		if batched && len(given) == len(want)+1 && given[0] == 1 {
			given = given[1:]
		}
		if len(given) != len(want) {
			return nil, fmt.Errorf("shape %v has rank %d, want %d", given, len(given), len(want))
		}
		count := int64(1)
		for i, d := range given {
			if d <= 0 || (want[i] >= 0 && want[i] != d) {
				return nil, fmt.Errorf("shape %v does not fit %v", given, want)
			}
			// Bounded as it is multiplied: a product that wraps around
			// (3 × 6148914691236517206 is 2 in int64) must not pass.
			if count > int64(n)/d {
				return nil, fmt.Errorf("shape %v needs more than the %d values given", given, n)
			}
			count *= d
		}
		if count != int64(n) {
			return nil, fmt.Errorf("shape %v needs %d values, got %d", given, count, n)
		}
		return given, nil
	}
	known, dynamic := int64(1), -1
	for i, d := range want {
		if d >= 0 {
			// The model file's own dimensions can wrap around too.
			if d > 0 && known > math.MaxInt64/d {
				return nil, fmt.Errorf("the model's shape %v holds more values than an int64 counts", want)
			}
			known *= d
			continue
		}
		if dynamic >= 0 {
			return nil, fmt.Errorf("the shape has several dynamic dimensions; give it in the shape field")
		}
		dynamic = i
	}
	if dynamic < 0 {
		if known != int64(n) {
			return nil, fmt.Errorf("got %d values, want %d", n, known)
		}
		return want, nil
	}
	if known == 0 || n == 0 || int64(n)%known != 0 {
		return nil, fmt.Errorf("%d values do not fill whole rows of %d", n, known)
	}
	out := append([]int64(nil), want...)
	out[dynamic] = int64(n) / known
	return out, nil
}

// toFloat32 accepts the forms a tensor takes in a message.
func toFloat32(v any) ([]float32, []int64, error) {
	switch x := v.(type) {
	case []float32:
		return x, nil, nil
	case models.Tensor:
		return x.Data, x.Shape, nil
	case *models.Tensor:
		return x.Data, x.Shape, nil
	case []float64:
		out := make([]float32, len(x))
		for i, f := range x {
			out[i] = float32(f)
		}
		return out, nil, nil
	case []any:
		out := make([]float32, len(x))
		for i, e := range x {
			f, ok := codec.FieldNumber(e)
			if !ok {
				return nil, nil, fmt.Errorf("element %d is %T, not a number", i, e)
			}
			out[i] = float32(f)
		}
		return out, nil, nil
	case []int:
		out := make([]float32, len(x))
		for i, f := range x {
			out[i] = float32(f)
		}
		return out, nil, nil
	}
	return nil, nil, fmt.Errorf("holds %T, want a list of numbers ([]float32) or a models.Tensor", v)
}
