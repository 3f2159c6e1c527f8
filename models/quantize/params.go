package quantize

import (
	"fmt"
	"math"

	"github.com/edgeflow/edgeflow/models/graph"
	"github.com/edgeflow/edgeflow/models/onnxpb"
)

// qparams are the scale and zero point of one activation tensor.
type qparams struct {
	scale float32
	zp    int32
	typ   onnxpb.TensorProto_DataType // UINT8 or INT8
}

// activationParams maps a float range to asymmetric 8-bit parameters. The
// range always includes 0 (so that zero padding is exact); a range that
// starts at 0 (a Relu's output) gets the type's lowest value as zero point,
// which is what lets ONNX Runtime drop the Relu.
func activationParams(lo, hi float32, signed bool) qparams {
	lo, hi = min(lo, 0), max(hi, 0)
	qmin, qmax := float32(0), float32(255)
	typ := onnxpb.TensorProto_UINT8
	if signed {
		qmin, qmax, typ = -128, 127, onnxpb.TensorProto_INT8
	}
	scale := (hi - lo) / (qmax - qmin)
	if scale == 0 || math.IsInf(float64(scale), 0) || math.IsNaN(float64(scale)) {
		return qparams{scale: 1, zp: 0, typ: typ} // only zeros seen: any scale represents them
	}
	zp := float32(math.Round(float64(qmin - lo/scale)))
	zp = max(qmin, min(qmax, zp))
	return qparams{scale: scale, zp: int32(zp), typ: typ}
}

// weightScales computes symmetric int8 scales (zero point 0) for w, one per
// slice along axis (per channel) or one for the whole tensor (axis < 0).
// Values map to [-127, 127], leaving -128 unused, as ONNX Runtime does, so
// that a product of two quantised values cannot overflow int16 pairs.
func weightScales(w []float32, dims []int64, axis int) []float32 {
	if axis < 0 {
		var m float32
		for _, v := range w {
			m = max(m, float32(math.Abs(float64(v))))
		}
		return []float32{scaleFor(m)}
	}
	ch, inner := channelLayout(dims, axis)
	scales := make([]float32, ch)
	absmax := make([]float32, ch)
	for i, v := range w {
		c := (i / inner) % ch
		absmax[c] = max(absmax[c], float32(math.Abs(float64(v))))
	}
	for c := range scales {
		scales[c] = scaleFor(absmax[c])
	}
	return scales
}

func scaleFor(absmax float32) float32 {
	if absmax == 0 {
		return 1
	}
	return absmax / 127
}

// channelLayout returns the size of dims[axis] and the number of elements
// after it, so that element i belongs to channel (i/inner)%ch.
func channelLayout(dims []int64, axis int) (ch, inner int) {
	inner = 1
	for _, d := range dims[axis+1:] {
		inner *= int(d)
	}
	return int(dims[axis]), inner
}

// quantizeWeights rounds w to int8 with the scales weightScales made.
func quantizeWeights(w []float32, dims []int64, axis int, scales []float32) []int8 {
	q := make([]int8, len(w))
	ch, inner := 1, len(w)
	if axis >= 0 {
		ch, inner = channelLayout(dims, axis)
	}
	for i, v := range w {
		s := scales[0]
		if axis >= 0 {
			s = scales[(i/inner)%ch]
		}
		r := math.Round(float64(v / s))
		q[i] = int8(max(-127, min(127, r)))
	}
	return q
}

// quantizeBias rounds a bias to int32 with scale inScale·wScale[c].
func quantizeBias(b []float32, inScale float32, wScales []float32) ([]int32, []float32) {
	q := make([]int32, len(b))
	scales := make([]float32, len(wScales))
	for c := range wScales {
		scales[c] = inScale * wScales[c]
	}
	for i, v := range b {
		s := scales[0]
		if len(scales) > 1 {
			s = scales[i]
		}
		r := math.Round(float64(v / s))
		q[i] = int32(max(math.MinInt32, min(math.MaxInt32, r)))
	}
	return q, scales
}

// finite refuses a constant holding NaN or an infinity: its int8 scale
// would be NaN or infinite, and the quantised model would compute NaN
// instead of the quantiser saying what is wrong.
func finite(t *onnxpb.TensorProto, data []float32) error {
	for i, v := range data {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return fmt.Errorf("%w: constant %q holds %v at index %d", ErrNotQuantizable, t.GetName(), v, i)
		}
	}
	return nil
}

// emptyWeight reports a constant weight without values (or with dims no
// file may claim): there is nothing to quantise, and one of its
// dimensions may still be huge ([2^31, 0]), which the per-channel scales
// would allocate and Dynamic's transpose would walk.
func emptyWeight(w *onnxpb.TensorProto) bool {
	n, err := graph.Size(w.GetDims())
	return err != nil || n == 0
}
