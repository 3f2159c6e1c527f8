package models

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
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

// DefaultKernelTolerance is the largest difference between an int8
// model's optimised and reference outputs that the kernel check accepts:
// the RMS of the difference over the output's range (see relRMS), the
// worst output of any sample. The two executions round differently (a
// fused QLinearConv requantises its int32 sum once; the reference
// dequantises, convolves in float and quantises), which moves some values
// by an 8-bit step per layer: measured 0.07% (UltraFace), 0.8% (YOLOX-Nano),
// 1.3% (NanoDet-m), 2.7% (the mirror's QLinearConv NanoDet on a synthetic
// input) on AMD EPYC (AVX-512 VNNI) at 1 and 2 threads. A wrong kernel's
// error is of the order of the output's spread, tens of percent.
const DefaultKernelTolerance = 0.1

// ErrKernelMismatch is wrapped by the error of a model whose optimised int8
// execution disagrees with its reference.
var ErrKernelMismatch = errors.New("ONNX Runtime's optimised int8 kernels disagree with the reference execution on this CPU")

// KernelReport is the result of a kernel check.
type KernelReport struct {
	// Samples is how many inputs were compared; Stored says whether they
	// came from the model's metadata (else they were synthetic).
	Samples int  `json:"samples"`
	Stored  bool `json:"stored"`
	// Error is the largest RMS difference over the output's range of any
	// output on any sample, Output and Sample where it occurred (Sample
	// from 1).
	Error     float64 `json:"error"`
	Output    string  `json:"output"`
	Sample    int     `json:"sample"`
	Tolerance float64 `json:"tolerance"`
	CPU       CPU     `json:"cpu"`
	// Reference says what the optimised model was compared with.
	Reference string `json:"reference"`
	// Skipped says why nothing was compared (a model with inputs other
	// than float32 tensors), else "".
	Skipped string `json:"skipped,omitempty"`
}

// OK reports whether the optimised execution agreed with the reference.
func (r *KernelReport) OK() bool { return r.Error <= r.Tolerance }

// String summarises the check in one line.
func (r *KernelReport) String() string {
	if r.Skipped != "" {
		return "int8 kernel check skipped: " + r.Skipped
	}
	src := "synthetic"
	if r.Stored {
		src = "stored"
	}
	return fmt.Sprintf("int8 kernel check: %d %s samples, max RMS difference %.2f%% of the output's range (output %q, sample %d; tolerance %.0f%%) against %s; CPU %s, int8 kernel %s",
		r.Samples, src, 100*r.Error, r.Output, r.Sample, 100*r.Tolerance, r.Reference, r.CPU, r.CPU.Int8Kernel())
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
	refData := data
	if hasQOperator(&m) {
		ref := proto.Clone(&m).(*onnxpb.ModelProto)
		if n := unfuseQOperator(ref); n > 0 {
			var err error
			if refData, err = proto.Marshal(ref); err != nil {
				return nil, err
			}
			rep.Reference = fmt.Sprintf("the graph with its %d QLinearConv/QLinearMatMul nodes unfused to DequantizeLinear, float op, QuantizeLinear (basic graph optimisations only)", n)
		}
	}
	for _, n := range m.GetGraph().GetNode() {
		if op := n.GetOpType(); op == "MatMulInteger" || op == "ConvInteger" || op == "QGemm" {
			rep.Reference += "; its " + op + " nodes run ORT's int8 kernels in both sessions"
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
	ref, err := NewSession(refData, refOpts)
	if err != nil {
		return nil, fmt.Errorf("reference session: %w", err)
	}
	defer ref.Close()
	info := opt.Info()
	for _, in := range info.Inputs {
		if !in.Float32() {
			// The check feeds float32 tensors only (as the onnx stage does).
			rep.Skipped = fmt.Sprintf("input %q is %s %s", in.Name, in.Kind, in.Type)
			return rep, nil
		}
	}
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

// relRMS is the RMS of got − want over the range of want (its largest
// minus its smallest value; 1 when want is constant). The range, not the
// RMS, sets the scale: an output of sigmoid scores that are almost all
// near zero has a tiny RMS, against which a one-step rounding difference
// looks large, while a wrong kernel's error is of the order of the range.
// NaN anywhere gives NaN.
func relRMS(got, want []float32) float64 {
	if len(got) != len(want) || len(want) == 0 {
		return math.Inf(1)
	}
	var d float64
	lo, hi := want[0], want[0]
	for i := range got {
		e := float64(got[i]) - float64(want[i])
		d += e * e
		lo, hi = min(lo, want[i]), max(hi, want[i])
	}
	r := float64(hi) - float64(lo)
	if r == 0 || math.IsNaN(r) {
		r = 1
	}
	return math.Sqrt(d/float64(len(got))) / r
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
		n, ok := BoundedElements(shape, maxSampleValues)
		if !ok {
			return nil, fmt.Errorf("input %q has shape %v: no check input of that size can be made", in.Name, in.Shape)
		}
		data := make([]float32, n)
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
	return fmt.Errorf("model %s: %w: output %q differs by %.1f%% of its range (RMS, tolerance %.0f%%) on sample %d; CPU %s, int8 kernel %s. "+
		"ONNX Runtime 1.24.3's AMX U8S8 GEMM is a known cause (fixed in 1.25.1, onnxruntime PR #27671): run `make deps` for 1.25.1, "+
		"or use the fp32 model (kernel_check: warn loads it anyway)",
		model, ErrKernelMismatch, r.Output, 100*r.Error, 100*r.Tolerance, r.Sample, r.CPU, r.CPU.Int8Kernel())
}

// unfuseQOperator rewrites the reference copy of a QOperator model so that
// it no longer runs ORT's int8 GEMM: every QLinearConv and QLinearMatMul
// becomes DequantizeLinear → Conv/MatMul in float → QuantizeLinear, its
// weight dequantised by Cast, Sub and Mul (which constant folding turns
// into a float weight at load) so that per-channel scales work at any
// opset. It returns the number of nodes rewritten.
func unfuseQOperator(m *onnxpb.ModelProto) int {
	g := m.GetGraph()
	used := map[string]bool{}
	for _, n := range g.GetNode() {
		for _, s := range append(append([]string{}, n.GetInput()...), n.GetOutput()...) {
			used[s] = true
		}
	}
	for _, t := range g.GetInitializer() {
		used[t.GetName()] = true
	}
	seq := 0
	name := func(base string) string {
		for {
			seq++
			s := fmt.Sprintf("%s_ref%d", base, seq)
			if !used[s] {
				used[s] = true
				return s
			}
		}
	}
	node := func(op string, in []string, out string, attrs ...*onnxpb.AttributeProto) *onnxpb.NodeProto {
		return &onnxpb.NodeProto{OpType: proto.String(op), Name: proto.String(name(op)), Input: in, Output: []string{out}, Attribute: attrs}
	}
	toFloat := &onnxpb.AttributeProto{Name: proto.String("to"), Type: onnxpb.AttributeProto_INT.Enum(), I: proto.Int64(int64(onnxpb.TensorProto_FLOAT))}
	// dequant returns nodes computing (float(q) − float(zp))·scale, with
	// scale and zp reshaped to shape (for per-channel weights) when given.
	dequant := func(q, scale, zp string, shape []int64) ([]*onnxpb.NodeProto, string) {
		var nodes []*onnxpb.NodeProto
		qf := name(q + "_f")
		nodes = append(nodes, node("Cast", []string{q}, qf, toFloat))
		if shape != nil {
			sh := name("shape")
			g.Initializer = append(g.Initializer, &onnxpb.TensorProto{Name: proto.String(sh), DataType: proto.Int32(int32(onnxpb.TensorProto_INT64)),
				Dims: []int64{int64(len(shape))}, Int64Data: shape})
			s2 := name(scale + "_r")
			nodes = append(nodes, node("Reshape", []string{scale, sh}, s2))
			scale = s2
			if zp != "" {
				z2 := name(zp + "_r")
				nodes = append(nodes, node("Reshape", []string{zp, sh}, z2))
				zp = z2
			}
		}
		x := qf
		if zp != "" {
			zf, d := name(zp+"_f"), name(q+"_c")
			nodes = append(nodes, node("Cast", []string{zp}, zf, toFloat), node("Sub", []string{qf, zf}, d))
			x = d
		}
		out := name(q + "_dq")
		nodes = append(nodes, node("Mul", []string{x, scale}, out))
		return nodes, out
	}
	get := func(in []string, i int) string {
		if i < len(in) {
			return in[i]
		}
		return ""
	}
	var out []*onnxpb.NodeProto
	rewritten := 0
	for _, n := range g.GetNode() {
		in := n.GetInput()
		if d := n.GetDomain(); (d != "" && d != "ai.onnx") || (n.GetOpType() != "QLinearConv" && n.GetOpType() != "QLinearMatMul") {
			out = append(out, n)
			continue
		}
		x, xs, xzp, w, ws, wzp, ys, yzp := get(in, 0), get(in, 1), get(in, 2), get(in, 3), get(in, 4), get(in, 5), get(in, 6), get(in, 7)
		xf := name(x + "_dq")
		out = append(out, &onnxpb.NodeProto{OpType: proto.String("DequantizeLinear"), Name: proto.String(name("DequantizeLinear")),
			Input: []string{x, xs, xzp}, Output: []string{xf}})
		var wShape []int64
		if n.GetOpType() == "QLinearConv" {
			wShape = []int64{-1, 1, 1, 1} // per output channel (a scalar broadcasts too)
		}
		nodes, wf := dequant(w, ws, wzp, wShape)
		out = append(out, nodes...)
		yf := name(n.GetOutput()[0] + "_f")
		if n.GetOpType() == "QLinearConv" {
			inputs := []string{xf, wf}
			if b := get(in, 8); b != "" {
				// int32 bias with scale x_scale·w_scale, zero point 0.
				sc := name("bias_scale")
				out = append(out, node("Mul", []string{xs, ws}, sc))
				bn, bf := dequant(b, sc, "", nil)
				out = append(out, bn...)
				inputs = append(inputs, bf)
			}
			out = append(out, &onnxpb.NodeProto{OpType: proto.String("Conv"), Name: proto.String(name("Conv")), Input: inputs,
				Output: []string{yf}, Attribute: n.GetAttribute()})
		} else {
			out = append(out, node("MatMul", []string{xf, wf}, yf))
		}
		out = append(out, &onnxpb.NodeProto{OpType: proto.String("QuantizeLinear"), Name: proto.String(name("QuantizeLinear")),
			Input: []string{yf, ys, yzp}, Output: []string{n.GetOutput()[0]}})
		rewritten++
	}
	g.Node = out
	return rewritten
}

// hasQOperator reports whether a model has QOperator int8 nodes that
// unfuseQOperator rewrites.
func hasQOperator(m *onnxpb.ModelProto) bool {
	for _, n := range m.GetGraph().GetNode() {
		if op := n.GetOpType(); op == "QLinearConv" || op == "QLinearMatMul" {
			return true
		}
	}
	return false
}
