// Package quantize turns float32 ONNX models into int8 ones, in Go:
//
//   - Static: QDQ format (QuantizeLinear/DequantizeLinear pairs that ONNX
//     Runtime fuses into QLinearConv, QGemm, QLinearMatMul, ...), int8
//     symmetric per-channel weights, uint8 (or int8) activations whose ranges
//     come from running the float model on calibration data, int32 biases.
//   - Dynamic: int8 weights; activations are quantised at run time
//     (DynamicQuantizeLinear + MatMulInteger). No calibration data needed.
//   - WeightOnly: int8 weights behind DequantizeLinear; the maths stays
//     float, the file shrinks about 4x.
//
// Per-channel weight scales need DequantizeLinear's axis, which exists from
// opset 13; older models are upgraded to opset 13 by rewriting the nodes
// whose meaning changed (see Upgrade), or quantised per tensor at their own
// opset with OpsetKeep.
package quantize

import (
	"fmt"
	"slices"
	"strings"

	"github.com/edgeflow/edgeflow/models"
	"github.com/edgeflow/edgeflow/models/graph"
	"github.com/edgeflow/edgeflow/models/onnxpb"
	"github.com/rs/zerolog"
	"google.golang.org/protobuf/proto"
)

// Method is how activation ranges are taken from calibration data.
type Method string

const (
	// MinMax uses the smallest and largest value seen.
	MinMax Method = "minmax"
	// Percentile clips the range to the given percentile of the values seen
	// (on each side), which ignores rare outliers and spends the 256 levels
	// on the values that matter.
	Percentile Method = "percentile"
)

// OpsetPolicy says what to do with models older than opset 13.
type OpsetPolicy string

const (
	// OpsetUpgrade raises the model to opset 13, rewriting nodes whose
	// meaning changed, so that weights get per-channel scales.
	OpsetUpgrade OpsetPolicy = "upgrade"
	// OpsetKeep quantises at the model's own opset (10 or later): weights
	// get one scale per tensor.
	OpsetKeep OpsetPolicy = "keep"
)

// DefaultOps are the operators Static quantises by default.
var DefaultOps = []string{"Conv", "Gemm", "MatMul", "Add", "Concat", "MaxPool", "AveragePool", "GlobalAveragePool"}

// MoveOps only move values (a channel shuffle, a split): quantised, they
// share their input's parameters and run on uint8 data instead of between
// a DequantizeLinear and a QuantizeLinear.
var MoveOps = []string{"Split", "Reshape", "Transpose", "Slice"}

// Options tune quantisation. The zero value is the usual choice: min/max
// calibration, uint8 activations, per-channel weights, DefaultOps, opset
// upgrade when needed.
type Options struct {
	// Method and Percentile choose the calibration (Static only).
	// Percentile defaults to 99.999.
	Method     Method
	Percentile float64
	// SignedActivations makes activations int8 instead of uint8.
	SignedActivations bool
	// PerTensor gives each weight one scale instead of one per output
	// channel.
	PerTensor bool
	// Ops limits the operator types quantised (default DefaultOps; Dynamic
	// only handles MatMul and Gemm).
	Ops []string
	// Exclude names nodes to leave in float.
	Exclude []string
	// Opset says what to do with models older than opset 13 (default
	// OpsetUpgrade).
	Opset OpsetPolicy
	// MaxStep leaves in float an activation whose 8-bit step would exceed
	// this fraction of its standard deviation on the calibration data (a
	// wide range with most values near zero, like YOLOX's first SiLU,
	// where 256 levels erase the signal). Default 0.15; negative disables.
	MaxStep float64
	// MaxSamples caps the calibration samples used (0: all).
	MaxSamples int
	// KeepFloat, when positive, runs a sensitivity analysis (Static only):
	// with every activation quantised, each one in turn is switched back
	// to float and the drop of the output error (against the float model,
	// on the first SensitivitySamples calibration samples, default 4) is
	// measured; the KeepFloat activations whose float copy helps most stay
	// float.
	KeepFloat          int
	SensitivitySamples int
	// SensitivityMetric is how the analysis measures output error:
	// "channel" (default) averages the relative square error of every
	// output channel (last axis), "tensor" of every output tensor.
	SensitivityMetric string
	// BiasCorrection (Static) makes every quantised Conv's bias absorb
	// the shift of its output's mean that rounding its weights to int8
	// causes, computed from the input's channel means on the calibration
	// data. Measured on the detectors it changes detection agreement by
	// less than the test set's noise, so it is off by default.
	BiasCorrection bool
	// FoldFocus (Static) rewrites a YOLO Focus stem (strided Slices and a
	// Concat before a Conv) into one stride-2 Conv on the image once the
	// model is quantised (see FoldFocus). The maths is the same but the
	// float sums run in another order, and in YOLOX-Nano's int8 model
	// that alone moves a detection or two on the still views
	// (BENCHMARKS.md, "int8 detectors"), so it is off by default.
	FoldFocus bool
	// FloatStem (Static) keeps the network's stem float: the Conv(s)
	// reading the graph input, the Relu/LeakyRelu/Clip/MaxPool after them
	// and the Convs reading the stem's output, so that neither the image
	// nor the stem's output is rounded to 8 bits. NanoDet-m's stem output
	// (24 channels, one per-tensor scale) is the one activation whose
	// rounding costs most of int8's detection disagreement, and its int8
	// stem is no faster than the float one (BENCHMARKS.md, "int8
	// detectors"). A stem that starts otherwise (YOLOX's Focus slices)
	// is left alone, and a reader of the stem's output other than a Conv
	// (a Concat, a Reshape) still rounds it.
	FloatStem bool
	// WeightOnlyIslands stores int8 weights (behind DequantizeLinear) for
	// a Conv/Gemm/MatMul whose input or output stays float. That makes the
	// file smaller but the model slower: ORT dequantises such a weight on
	// every run and cannot prepack it. By default those weights stay
	// float.
	WeightOnlyIslands bool
	// CheckSamples is how many calibration samples (Static) are stored in
	// the model's metadata for the int8 kernel check that runs here and
	// whenever edgeflow loads the model (models.CheckKernels); default 2,
	// negative none (the check then runs on a synthetic input).
	CheckSamples int
	// KernelCheck says what to do when ORT's optimised int8 execution of
	// the result disagrees with its unfused reference on this CPU: refuse
	// (the default: an error wrapping models.ErrKernelMismatch), warn
	// (log at error level and return the model) or off.
	KernelCheck models.KernelCheck
	// KernelTolerance overrides models.DefaultKernelTolerance.
	KernelTolerance float64
	// Runtime tunes the ONNX Runtime sessions calibration uses.
	Runtime models.Options
	// Logger receives progress (default: discard).
	Logger *zerolog.Logger
	// Progress, if set, is called as each phase of the long work goes
	// ("calibration": samples; "sensitivity": model runs) with how much
	// is done out of how much (total -1 when unknown).
	Progress func(phase string, done, total int)
}

func (o *Options) progress(phase string, done, total int) {
	if o.Progress != nil {
		o.Progress(phase, done, total)
	}
}

func (o *Options) defaults() error {
	if o.Method == "" {
		o.Method = MinMax
	}
	if o.Method != MinMax && o.Method != Percentile {
		return fmt.Errorf("unknown calibration method %q (want minmax or percentile)", o.Method)
	}
	if o.Percentile == 0 {
		o.Percentile = 99.999
	}
	if o.Percentile <= 50 || o.Percentile > 100 {
		return fmt.Errorf("percentile %v must be in (50, 100]", o.Percentile)
	}
	if len(o.Ops) == 0 {
		o.Ops = DefaultOps
	}
	switch o.SensitivityMetric {
	case "":
		o.SensitivityMetric = "channel"
	case "channel", "tensor":
	default:
		return fmt.Errorf("unknown sensitivity metric %q (want channel or tensor)", o.SensitivityMetric)
	}
	if o.KeepFloat > 0 && o.SensitivitySamples <= 0 {
		o.SensitivitySamples = 4
	}
	if o.CheckSamples == 0 {
		o.CheckSamples = 2
	}
	o.CheckSamples = max(o.CheckSamples, 0)
	if err := o.KernelCheck.Validate(); err != nil {
		return err
	}
	if o.MaxStep == 0 {
		o.MaxStep = 0.15
	}
	if o.Opset == "" {
		o.Opset = OpsetUpgrade
	}
	if o.Opset != OpsetUpgrade && o.Opset != OpsetKeep {
		return fmt.Errorf("unknown opset policy %q (want upgrade or keep)", o.Opset)
	}
	return nil
}

func (o *Options) log() zerolog.Logger {
	if o.Logger != nil {
		return *o.Logger
	}
	return zerolog.Nop()
}

// Report says what a quantisation did.
type Report struct {
	Mode        string   `json:"mode"`
	OpsetBefore int64    `json:"opset_before"`
	OpsetAfter  int64    `json:"opset_after"`
	Upgraded    []string `json:"upgraded,omitempty"` // nodes rewritten by the opset upgrade
	// FoldedBatchNorms counts BatchNormalization nodes folded into the
	// preceding Conv before quantising.
	FoldedBatchNorms int `json:"folded_batch_norms,omitempty"`
	// HalfFloats counts the large float constants left float (weights of
	// float islands, anchor tables) stored as float16 behind a Cast.
	HalfFloats int `json:"half_floats,omitempty"`
	// FocusFolded counts the Focus stems FoldFocus rewrote.
	FocusFolded int            `json:"focus_folded,omitempty"`
	PerChannel  bool           `json:"per_channel"`
	Quantized   map[string]int `json:"quantized"` // nodes quantised, by op type
	Skipped     []string       `json:"skipped,omitempty"`
	Activations int            `json:"activations"` // tensors given a Q/DQ pair
	Weights     int            `json:"weights"`     // initializers stored as int8
	Samples     int            `json:"samples"`     // calibration samples used
	Method      string         `json:"method,omitempty"`
	// SensitivityError is the output error (mean relative MSE against
	// float) with every calibrated activation quantised, when KeepFloat
	// ran the sensitivity analysis.
	SensitivityError float64 `json:"sensitivity_error,omitempty"`
	// KernelCheck is the int8 kernel check of the result on this CPU.
	KernelCheck *models.KernelReport `json:"kernel_check,omitempty"`
	SizeBefore  int64                `json:"size_before"`
	SizeAfter   int64                `json:"size_after"`
}

// String summarises the report in one line.
func (r *Report) String() string {
	ops := make([]string, 0, len(r.Quantized))
	for op, n := range r.Quantized {
		ops = append(ops, fmt.Sprintf("%s:%d", op, n))
	}
	slices.Sort(ops)
	return fmt.Sprintf("%s: opset %d->%d, %s, %d activations, %d weights, %d samples, %d -> %d bytes (%.1f%%)",
		r.Mode, r.OpsetBefore, r.OpsetAfter, strings.Join(ops, " "), r.Activations, r.Weights, r.Samples,
		r.SizeBefore, r.SizeAfter, 100*float64(r.SizeAfter)/float64(max(r.SizeBefore, 1)))
}

// ErrNotQuantizable is wrapped by errors for models the quantiser cannot
// handle (nothing to quantise, an opset it cannot reach, ...).
var ErrNotQuantizable = fmt.Errorf("model cannot be quantised")

// prepare validates the model and options, clones the model and brings it
// to the opset the mode needs. minOpset is the lowest opset the mode can
// work at without an upgrade.
func prepare(m *onnxpb.ModelProto, opts *Options, r *Report, minOpset int64) (*onnxpb.ModelProto, error) {
	if m == nil || m.GetGraph() == nil {
		return nil, fmt.Errorf("%w: no graph", ErrNotQuantizable)
	}
	if err := opts.defaults(); err != nil {
		return nil, err
	}
	for _, o := range m.GetOpsetImport() {
		if d := o.GetDomain(); d != "" && d != "ai.onnx" && d != "com.microsoft" {
			return nil, fmt.Errorf("%w: it uses operator domain %q", ErrNotQuantizable, d)
		}
	}
	for _, n := range m.GetGraph().GetNode() {
		switch n.GetOpType() {
		case "QuantizeLinear", "DequantizeLinear", "QLinearConv", "QLinearMatMul", "MatMulInteger", "ConvInteger", "DynamicQuantizeLinear":
			return nil, fmt.Errorf("%w: it is already quantised (it has %s node %q)", ErrNotQuantizable, n.GetOpType(), n.GetName())
		}
	}
	before, err := graph.Encode(m)
	if err != nil {
		return nil, err
	}
	r.SizeBefore = int64(len(before))
	r.OpsetBefore = graph.Opset(m, "")
	out := graph.Clone(m)
	if err := graph.TopoSort(out.GetGraph()); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNotQuantizable, err)
	}
	opset := r.OpsetBefore
	switch {
	case opset >= 13:
	case opts.Opset == OpsetUpgrade || opset < minOpset:
		upgraded, err := Upgrade(out, 13)
		if err != nil {
			return nil, fmt.Errorf("%w: %w (try the other opset policy)", ErrNotQuantizable, err)
		}
		r.Upgraded = upgraded
	}
	r.FoldedBatchNorms = foldBatchNorm(out.GetGraph())
	r.OpsetAfter = graph.Opset(out, "")
	r.PerChannel = !opts.PerTensor && r.OpsetAfter >= 13
	r.Quantized = map[string]int{}
	return out, nil
}

// uncalibrated runs a mode that needs no calibration data (rewrite), then
// finish on its result.
func uncalibrated(mode string, rewrite func(*onnxpb.ModelProto, *Options, *Report) (*onnxpb.ModelProto, error),
	m *onnxpb.ModelProto, opts Options) (*onnxpb.ModelProto, *Report, error) {
	r := &Report{Mode: mode}
	out, err := rewrite(m, &opts, r)
	if err != nil {
		return nil, nil, err
	}
	if err := finish(out, r, &opts, nil); err != nil {
		return nil, nil, err
	}
	return out, r, nil
}

// finish seals the graph (see seal), checks that ONNX Runtime accepts the
// result and that its optimised int8 execution agrees with the unfused
// reference on this CPU.
func finish(m *onnxpb.ModelProto, r *Report, opts *Options, samples [][]models.Tensor) error {
	data, err := seal(m, r, samples)
	if err != nil {
		return err
	}
	return checkRuntime(data, r, opts)
}

// seal drops unused initializers, orders the graph, stores the kernel
// check samples, fills in the size and returns the encoded model. It is
// the part of finish that needs no ONNX Runtime (FuzzQuantize runs it on
// every input).
func seal(m *onnxpb.ModelProto, r *Report, samples [][]models.Tensor) ([]byte, error) {
	ix := graph.NewIndex(m.GetGraph())
	ix.RemoveUnused()
	// Shapes recorded for rewritten tensors may be stale; ORT infers them.
	m.Graph.ValueInfo = nil
	if err := graph.TopoSort(m.GetGraph()); err != nil {
		return nil, fmt.Errorf("quantised graph: %w", err)
	}
	m.MetadataProps = slices.DeleteFunc(m.MetadataProps, func(p *onnxpb.StringStringEntryProto) bool {
		return p.GetKey() == models.CheckSamplesKey
	})
	if len(samples) > 0 {
		enc, err := models.EncodeCheckSamples(samples)
		if err != nil {
			return nil, err
		}
		m.MetadataProps = append(m.MetadataProps, &onnxpb.StringStringEntryProto{Key: proto.String(models.CheckSamplesKey), Value: proto.String(enc)})
	}
	data, err := graph.Encode(m)
	if err != nil {
		return nil, err
	}
	r.SizeAfter = int64(len(data))
	return data, nil
}

// checkRuntime loads the sealed model into ONNX Runtime and runs the int8
// kernel check as opts say.
func checkRuntime(data []byte, r *Report, opts *Options) error {
	sess, err := models.NewSession(data, opts.Runtime)
	if err != nil {
		return fmt.Errorf("ONNX Runtime rejects the quantised model (this is a quantiser bug; the input model was not changed): %w", err)
	}
	if err := sess.Close(); err != nil {
		return err
	}
	if opts.KernelCheck == models.KernelCheckOff {
		return nil
	}
	rep, err := models.CheckKernels(data, opts.Runtime, opts.KernelTolerance)
	if err != nil {
		return fmt.Errorf("int8 kernel check: %w", err)
	}
	r.KernelCheck = rep
	log := opts.log()
	if err := rep.Err("(quantised)"); err != nil {
		if opts.KernelCheck != models.KernelCheckWarn {
			return err
		}
		log.Error().Err(err).Str("cpu", rep.CPU.String()).Msg("the quantised model computes wrong results on this CPU")
		return nil
	}
	log.Info().Msg(rep.String())
	return nil
}
