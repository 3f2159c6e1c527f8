package models

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"sync/atomic"

	"github.com/edgeflow/edgeflow/models/onnxpb"
	"google.golang.org/protobuf/proto"
)

// KernelCheck says what happens when an int8 model's optimised execution
// disagrees with its reference on this CPU (see CheckKernels).
type KernelCheck string

const (
	// KernelCheckRefuse (the default, "") refuses the model with an error
	// wrapping ErrKernelMismatch.
	KernelCheckRefuse KernelCheck = "refuse"
	// KernelCheckWarn logs the mismatch at error level and loads the model.
	KernelCheckWarn KernelCheck = "warn"
	// KernelCheckOff skips the check.
	KernelCheckOff KernelCheck = "off"
)

// KernelChecks are the accepted values of LoadOptions.KernelCheck.
var KernelChecks = []string{"refuse", "warn", "off"}

// Validate checks the value.
func (k KernelCheck) Validate() error {
	switch k {
	case "", KernelCheckRefuse, KernelCheckWarn, KernelCheckOff:
		return nil
	}
	return fmt.Errorf("unknown kernel check %q (want one of %v)", k, KernelChecks)
}

// DefaultKernelTolerance is the largest relative RMS difference between an
// int8 model's optimised and reference outputs that the kernel check
// accepts. The two executions round differently (a fused QLinearConv
// requantises its int32 sum once; the reference dequantises, convolves in
// float and quantises), which moves some values by one 8-bit step per
// layer: measured 0.3–3% on YOLOX-Nano and NanoDet-m, on AMD (AVX-512 VNNI)
// and with other thread counts. A wrong kernel gives errors of order 1.
const DefaultKernelTolerance = 0.35

// ErrKernelMismatch is wrapped by the error of a model whose optimised int8
// execution disagrees with its reference.
var ErrKernelMismatch = errors.New("ONNX Runtime's optimised int8 kernels disagree with the reference execution on this CPU")

// KernelReport is the result of a kernel check.
type KernelReport struct {
	// Samples is how many inputs were compared; Stored says whether they
	// came from the model's metadata (else they were synthetic).
	Samples int  `json:"samples"`
	Stored  bool `json:"stored"`
	// Error is the largest relative RMS difference of any output on any
	// sample, Output and Sample where it occurred (Sample from 1).
	Error     float64 `json:"error"`
	Output    string  `json:"output"`
	Sample    int     `json:"sample"`
	Tolerance float64 `json:"tolerance"`
	CPU       CPU     `json:"cpu"`
	// Reference says what the optimised model was compared with.
	Reference string `json:"reference"`
}

// OK reports whether the optimised execution agreed with the reference.
func (r *KernelReport) OK() bool { return r.Error <= r.Tolerance }

// String summarises the check in one line.
func (r *KernelReport) String() string {
	src := "synthetic"
	if r.Stored {
		src = "stored"
	}
	return fmt.Sprintf("int8 kernel check: %d %s samples, max relative RMS difference %.4f (output %q, sample %d; tolerance %.2f) against %s; CPU %s, int8 kernel %s",
		r.Samples, src, r.Error, r.Output, r.Sample, r.Tolerance, r.Reference, r.CPU, r.CPU.Int8Kernel())
}

// kernelFault, when set, changes the optimised outputs before they are
// compared, as a broken kernel would.
var kernelFault atomic.Pointer[func(outs []Tensor)]

// SetKernelFault makes every kernel check pass the optimised session's
// outputs through f before comparing them with the reference (nil removes
// it). It exists for tests, which use it to stand in for a broken int8
// kernel on a CPU that has none.
func SetKernelFault(f func(outs []Tensor)) {
	if f == nil {
		kernelFault.Store(nil)
		return
	}
	kernelFault.Store(&f)
}

// CheckKernels runs an int8 model on the inputs stored in its metadata
// (CheckSamplesKey; a synthetic input when there are none) twice: as
// ONNX Runtime runs it with opts (every graph optimisation on, so QDQ
// groups are fused into QLinearConv and friends, whose GEMM is the
// CPU-specific int8 kernel: AVX2, VNNI, AMX, arm64 dot product...), and as
// the reference, the same graph without the optimisations that fuse
// Q/DQ groups (basic level only), so that every activation's
// QuantizeLinear/DequantizeLinear runs as written and the maths in between
// is float. It returns the comparison; the caller decides what a
// difference above tolerance (0: DefaultKernelTolerance) means.
//
// The reference is independent of the int8 GEMM only for QDQ models (what
// edgeflow's quantiser writes); a model made of QLinearConv nodes runs the
// same kernels both ways, which Reference says.
func CheckKernels(data []byte, opts Options, tolerance float64) (*KernelReport, error) {
	opt, err := NewSession(data, opts)
	if err != nil {
		return nil, err
	}
	defer opt.Close()
	return checkKernels(data, opt, opts, tolerance)
}

// checkKernels is CheckKernels with the optimised session already made
// (loading a model makes it anyway; a second one would double the cost).
func checkKernels(data []byte, opt *Session, opts Options, tolerance float64) (*KernelReport, error) {
	if tolerance <= 0 {
		tolerance = DefaultKernelTolerance
	}
	var m onnxpb.ModelProto
	if err := proto.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("not an ONNX model: %w", err)
	}
	rep := &KernelReport{Tolerance: tolerance, CPU: HostCPU(), Reference: "the unfused QDQ graph (basic graph optimisations only)"}
	for _, n := range m.GetGraph().GetNode() {
		if strings.HasPrefix(n.GetOpType(), "QLinear") || strings.HasSuffix(n.GetOpType(), "Integer") {
			rep.Reference = "the graph with basic optimisations only (it has " + n.GetOpType() + " nodes, which run ORT's int8 kernels in both; only QDQ models get an independent reference)"
			break
		}
	}
	var samples [][]Tensor
	for _, p := range m.GetMetadataProps() {
		if p.GetKey() == CheckSamplesKey {
			s, err := DecodeCheckSamples(p.GetValue())
			if err != nil {
				return nil, err
			}
			samples, rep.Stored = s, true
		}
	}
	// The reference keeps ORT's basic optimisations (constant folding:
	// with session.disable_quant_qdq the weights' DequantizeLinear nodes
	// fold into float weights, which keeps it fast) but none of the
	// extended ones that fuse Q/DQ groups into int8 kernels.
	refOpts := opts
	refOpts.Optimization = "basic"
	refOpts.Profile = ""
	refOpts.ConfigEntries = map[string]string{"session.disable_quant_qdq": "1"}
	ref, err := NewSession(data, refOpts)
	if err != nil {
		return nil, fmt.Errorf("reference session: %w", err)
	}
	defer ref.Close()
	info := opt.Info()
	if len(samples) == 0 {
		s, err := syntheticInputs(info)
		if err != nil {
			return nil, err
		}
		samples = [][]Tensor{s}
	}
	for i, s := range samples {
		in, err := info.FitInputs(s)
		if err != nil {
			return nil, fmt.Errorf("kernel check sample %d: %w", i+1, err)
		}
		want, err := ref.Run(in)
		if err != nil {
			return nil, fmt.Errorf("kernel check sample %d, reference: %w", i+1, err)
		}
		got, err := opt.Run(in)
		if err != nil {
			return nil, fmt.Errorf("kernel check sample %d: %w", i+1, err)
		}
		if f := kernelFault.Load(); f != nil {
			(*f)(got)
		}
		for k := range got {
			if e := relRMS(got[k].Data, want[k].Data); e > rep.Error || math.IsNaN(e) {
				rep.Error, rep.Output, rep.Sample = e, info.Outputs[k].Name, i+1
				if math.IsNaN(e) {
					rep.Error = math.Inf(1)
				}
			}
		}
		rep.Samples++
	}
	return rep, nil
}

// relRMS is the RMS of got − want over the RMS of want (over 1 when want
// is all zeros). NaN anywhere gives NaN.
func relRMS(got, want []float32) float64 {
	if len(got) != len(want) {
		return math.Inf(1)
	}
	var d, w float64
	for i := range got {
		e := float64(got[i]) - float64(want[i])
		d += e * e
		w += float64(want[i]) * float64(want[i])
	}
	if w == 0 {
		w = float64(max(len(want), 1))
	}
	return math.Sqrt(d / w)
}

// syntheticInputs makes one seeded input per model input, for models that
// carry no stored samples: smooth random planes, so that convolutions see
// structure rather than noise.
func syntheticInputs(info *Info) ([]Tensor, error) {
	r := rand.New(rand.NewPCG(7, 11))
	out := make([]Tensor, len(info.Inputs))
	for i, in := range info.Inputs {
		if !in.Float32() {
			return nil, fmt.Errorf("input %q is %s %s; the kernel check feeds float32 tensors only", in.Name, in.Kind, in.Type)
		}
		shape := append([]int64(nil), in.Shape...)
		for d := range shape {
			if shape[d] < 0 {
				shape[d] = 1
			}
		}
		data := make([]float32, Elements(shape))
		fx, fy, ph := 1+r.Float64()*3, 1+r.Float64()*3, r.Float64()*6
		w := 1
		if len(shape) > 0 {
			w = int(shape[len(shape)-1])
		}
		for k := range data {
			x, y := float64(k%w)/float64(w), float64(k/w)/float64(w)
			data[k] = float32(math.Sin(2*math.Pi*fx*x+ph)*math.Cos(2*math.Pi*fy*y) + 0.1*r.NormFloat64())
		}
		out[i] = Tensor{Shape: shape, Data: data}
	}
	return out, nil
}

// Err returns nil when the check passed, else an error wrapping
// ErrKernelMismatch that names the model, the output, the CPU and its
// int8 kernel, and the known cause.
func (r *KernelReport) Err(model string) error {
	if r.OK() {
		return nil
	}
	return fmt.Errorf("model %s: %w: output %q differs by %.3f (relative RMS, tolerance %.2f) on sample %d; CPU %s, int8 kernel %s. "+
		"ONNX Runtime 1.24.3's AMX U8S8 GEMM is a known cause (fixed in 1.25.1, onnxruntime PR #27671): run `make deps` for 1.25.1, "+
		"or use the fp32 model (kernel_check: warn loads it anyway)",
		model, ErrKernelMismatch, r.Output, r.Error, r.Tolerance, r.Sample, r.CPU, r.CPU.Int8Kernel())
}
