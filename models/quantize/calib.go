package quantize

import (
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"slices"

	"github.com/edgeflow/edgeflow/models"
	"github.com/edgeflow/edgeflow/models/graph"
	"github.com/edgeflow/edgeflow/models/onnxpb"
)

// Calibrator yields calibration samples: one tensor per model input, in the
// model's input order. Next returns io.EOF after the last sample. A tensor
// whose shape does not match an input but has the right number of values
// for batch 1 is reshaped (so plain vectors fit a [N,1,W] Conv1D input).
type Calibrator interface {
	Next() ([]models.Tensor, error)
}

type sliceCalibrator struct {
	samples [][]models.Tensor
	i       int
}

func (s *sliceCalibrator) Next() ([]models.Tensor, error) {
	if s.i >= len(s.samples) {
		return nil, io.EOF
	}
	s.i++
	return s.samples[s.i-1], nil
}

// Len tells progress reports how many samples there are.
func (s *sliceCalibrator) Len() int { return len(s.samples) }

// FromSamples calibrates with samples held in memory.
func FromSamples(samples [][]models.Tensor) Calibrator { return &sliceCalibrator{samples: samples} }

// FromVectors calibrates a single-input model with one vector per sample
// (shaped [1, len] and reshaped to the input as Calibrator describes).
func FromVectors(vectors [][]float32) Calibrator {
	s := make([][]models.Tensor, len(vectors))
	for i, v := range vectors {
		s[i] = []models.Tensor{{Shape: []int64{1, int64(len(v))}, Data: v}}
	}
	return FromSamples(s)
}

// reservoirSize is how many values per tensor percentile calibration keeps.
const reservoirSize = 1 << 15

// stats accumulates one tensor's range over the calibration samples.
type stats struct {
	min, max float32
	seen     int64
	sum, sq  float64   // for the standard deviation
	sample   []float32 // reservoir of values, for percentiles
	// chSum and chSeen are per-channel sums (axis 1 of an [N,C,...]
	// tensor) for bias correction; nil for other ranks.
	chSum  []float64
	chSeen int64
}

// addChannels accumulates the per-channel sums of an [N,C,...] tensor.
func (s *stats) addChannels(t models.Tensor) {
	if len(t.Shape) < 3 || t.Shape[1] <= 0 {
		return
	}
	c := int(t.Shape[1])
	inner := 1
	for _, d := range t.Shape[2:] {
		inner *= int(d)
	}
	if s.chSum == nil {
		s.chSum = make([]float64, c)
	}
	if len(s.chSum) != c || inner <= 0 || len(t.Data)%(c*inner) != 0 {
		return
	}
	for i, v := range t.Data {
		s.chSum[(i/inner)%c] += float64(v)
	}
	s.chSeen += int64(len(t.Data) / c)
}

// channelMeans returns the mean of every channel, or nil when unknown.
func (s *stats) channelMeans() []float64 {
	if s.chSeen == 0 {
		return nil
	}
	out := make([]float64, len(s.chSum))
	for i, v := range s.chSum {
		out[i] = v / float64(s.chSeen)
	}
	return out
}

func (s *stats) add(data []float32, keep bool, r *rand.Rand) {
	for _, v := range data {
		if math.IsNaN(float64(v)) {
			continue
		}
		if s.seen == 0 {
			s.min, s.max = v, v
		}
		s.min, s.max = min(s.min, v), max(s.max, v)
		s.seen++
		s.sum += float64(v)
		s.sq += float64(v) * float64(v)
		if !keep {
			continue
		}
		if len(s.sample) < reservoirSize {
			s.sample = append(s.sample, v)
		} else if j := r.Int64N(s.seen); j < reservoirSize {
			s.sample[j] = v
		}
	}
}

// std is the standard deviation of the values seen.
func (s *stats) std() float64 {
	if s.seen == 0 {
		return 0
	}
	m := s.sum / float64(s.seen)
	return math.Sqrt(max(0, s.sq/float64(s.seen)-m*m))
}

// rng returns the calibrated range [lo, hi] of a tensor.
func (s *stats) rng(method Method, pct float64) (lo, hi float32) {
	if method != Percentile || len(s.sample) == 0 {
		return s.min, s.max
	}
	v := slices.Clone(s.sample)
	slices.Sort(v)
	at := func(p float64) float32 {
		i := int(math.Round(p / 100 * float64(len(v)-1)))
		return v[max(0, min(len(v)-1, i))]
	}
	return at(100 - pct), at(pct)
}

// calibrate runs the float model on the calibration data with the named
// tensors exposed as extra outputs, and returns their statistics, the
// first keep samples (for the sensitivity analysis) and the sample count.
// Tensors that turn out not to be float32 are left out of the result.
func calibrate(m *onnxpb.ModelProto, tensors []string, calib Calibrator, opts *Options, keep int) (map[string]*stats, [][]models.Tensor, int, error) {
	if calib == nil {
		return nil, nil, 0, errors.New("static quantisation needs calibration data")
	}
	var kept [][]models.Tensor
	probe := graph.Clone(m)
	ix := graph.NewIndex(probe.GetGraph())
	inputs := map[string]int{} // graph inputs: ranges come from the samples
	for i, vi := range m.GetGraph().GetInput() {
		if ix.IsGraphInput(vi.GetName()) {
			inputs[vi.GetName()] = i
		}
	}
	for _, name := range tensors {
		if _, isInput := inputs[name]; !isInput && !ix.IsGraphOutput(name) {
			// No element type: ORT infers it, and reports it back, so that
			// integer tensors (shapes, indices) are recognised and skipped.
			probe.Graph.Output = append(probe.Graph.Output, &onnxpb.ValueInfoProto{Name: &name})
		}
	}
	data, err := graph.Encode(probe)
	if err != nil {
		return nil, nil, 0, err
	}
	sess, err := models.NewSession(data, opts.Runtime)
	if err != nil {
		return nil, nil, 0, fmt.Errorf("calibration model: %w", err)
	}
	defer sess.Close()
	info := sess.Info()
	want := map[string]bool{}
	for _, name := range tensors {
		want[name] = true
	}
	result := map[string]*stats{}
	index := map[string]int{}
	for i, out := range info.Outputs {
		if want[out.Name] && out.Float32() {
			result[out.Name] = &stats{}
			index[out.Name] = i
		}
	}
	fromInput := map[string]int{}
	for k, in := range info.Inputs {
		if want[in.Name] && in.Float32() {
			result[in.Name] = &stats{}
			fromInput[in.Name] = k
		}
	}
	log := opts.log()
	r := rand.New(rand.NewPCG(1, 2))
	n := 0
	total := -1
	if l, ok := calib.(interface{ Len() int }); ok {
		total = l.Len()
	}
	if opts.MaxSamples > 0 && (total < 0 || opts.MaxSamples < total) {
		total = opts.MaxSamples
	}
	opts.progress("calibration", 0, total)
	for opts.MaxSamples <= 0 || n < opts.MaxSamples {
		sample, err := calib.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, nil, n, fmt.Errorf("calibration sample %d: %w", n+1, err)
		}
		sample, err = info.FitInputs(sample)
		if err != nil {
			return nil, nil, n, fmt.Errorf("calibration sample %d: %w", n+1, err)
		}
		outs, err := sess.Run(sample)
		if err != nil {
			return nil, nil, n, fmt.Errorf("calibration sample %d: %w", n+1, err)
		}
		for name, s := range result {
			if k, ok := fromInput[name]; ok {
				s.add(sample[k].Data, opts.Method == Percentile, r)
				s.addChannels(sample[k])
			} else {
				s.add(outs[index[name]].Data, opts.Method == Percentile, r)
				s.addChannels(outs[index[name]])
			}
		}
		if len(kept) < keep {
			kept = append(kept, sample)
		}
		n++
		log.Debug().Int("sample", n).Msg("calibration")
		opts.progress("calibration", n, total)
	}
	if n == 0 {
		return nil, nil, 0, errors.New("calibration data is empty")
	}
	return result, kept, n, nil
}
