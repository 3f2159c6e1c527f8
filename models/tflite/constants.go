package tflite

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/edgeflow/edgeflow/models/tflite/schema"
)

// constant is a tensor whose value is known at conversion time: a weight, a
// shape, or the result of folding DEQUANTIZE and DENSIFY on weights. Float
// values live in F, integer ones in I.
type constant struct {
	Shape []int
	F     []float32
	I     []int64
	Int   bool
}

func elements(shape []int) int {
	n := 1
	for _, d := range shape {
		n *= d
	}
	return n
}

// values decodes a tensor's buffer as it is stored: for a sparse tensor,
// the stored (non-zero) values only. Integer tensors with quantisation
// parameters are kept as integers here; dequantize turns them into floats.
func values(t *Tensor) (*constant, error) {
	d := t.Data
	var c constant
	c.Shape = t.Shape
	size := map[schema.TensorType]int{schema.TensorTypeFLOAT32: 4, schema.TensorTypeFLOAT16: 2, schema.TensorTypeINT32: 4,
		schema.TensorTypeINT64: 8, schema.TensorTypeINT8: 1, schema.TensorTypeUINT8: 1, schema.TensorTypeINT16: 2}[t.Type]
	if size == 0 {
		return nil, fmt.Errorf("constant tensor %q has type %s, which the converter does not read", t.Name, t.Type)
	}
	if len(d)%size != 0 {
		return nil, fmt.Errorf("constant tensor %q: %d bytes is not a whole number of %s values", t.Name, len(d), t.Type)
	}
	n := len(d) / size
	if t.Sparsity == nil && n != elements(t.Shape) {
		return nil, fmt.Errorf("constant tensor %q: shape %v needs %d values, the buffer holds %d", t.Name, t.Shape, elements(t.Shape), n)
	}
	switch t.Type {
	case schema.TensorTypeFLOAT32:
		c.F = make([]float32, n)
		for i := range c.F {
			c.F[i] = math.Float32frombits(binary.LittleEndian.Uint32(d[4*i:]))
		}
	case schema.TensorTypeFLOAT16:
		c.F = make([]float32, n)
		for i := range c.F {
			c.F[i] = halfToFloat(binary.LittleEndian.Uint16(d[2*i:]))
		}
	default:
		c.Int = true
		c.I = make([]int64, n)
		for i := range c.I {
			switch t.Type {
			case schema.TensorTypeINT32:
				c.I[i] = int64(int32(binary.LittleEndian.Uint32(d[4*i:])))
			case schema.TensorTypeINT64:
				c.I[i] = int64(binary.LittleEndian.Uint64(d[8*i:]))
			case schema.TensorTypeINT16:
				c.I[i] = int64(int16(binary.LittleEndian.Uint16(d[2*i:])))
			case schema.TensorTypeINT8:
				c.I[i] = int64(int8(d[i]))
			case schema.TensorTypeUINT8:
				c.I[i] = int64(d[i])
			}
		}
	}
	return &c, nil
}

// halfToFloat converts an IEEE 754 binary16 value.
func halfToFloat(h uint16) float32 {
	sign := uint32(h>>15) << 31
	exp := uint32(h>>10) & 0x1f
	frac := uint32(h) & 0x3ff
	switch {
	case exp == 0x1f: // inf, NaN
		return math.Float32frombits(sign | 0x7f800000 | frac<<13)
	case exp == 0 && frac == 0:
		return math.Float32frombits(sign)
	case exp == 0: // subnormal: normalise
		e := uint32(127 - 15 + 1)
		for frac&0x400 == 0 {
			frac <<= 1
			e--
		}
		return math.Float32frombits(sign | e<<23 | (frac&0x3ff)<<13)
	}
	return math.Float32frombits(sign | (exp+127-15)<<23 | frac<<13)
}

// dequantize turns a constant into float32 values: fp16 (already decoded)
// passes through; integers are scaled with the tensor's quantisation
// parameters, one scale and zero point per tensor or per slice along q.Axis.
func dequantize(t *Tensor, c *constant) (*constant, error) {
	if !c.Int {
		return &constant{Shape: c.Shape, F: c.F}, nil
	}
	q := t.Quant
	if q == nil || len(q.Scale) == 0 {
		return nil, fmt.Errorf("tensor %q: integer values without quantisation parameters", t.Name)
	}
	channels, inner := 1, 1
	if len(q.Scale) > 1 {
		if q.Axis < 0 || q.Axis >= len(c.Shape) || c.Shape[q.Axis] != len(q.Scale) {
			return nil, fmt.Errorf("tensor %q: %d scales do not match dimension %d of shape %v", t.Name, len(q.Scale), q.Axis, c.Shape)
		}
		channels = len(q.Scale)
		inner = elements(c.Shape[q.Axis+1:])
	}
	if len(q.ZeroPoint) != 0 && len(q.ZeroPoint) != len(q.Scale) {
		return nil, fmt.Errorf("tensor %q: %d zero points for %d scales", t.Name, len(q.ZeroPoint), len(q.Scale))
	}
	out := &constant{Shape: c.Shape, F: make([]float32, len(c.I))}
	for i, v := range c.I {
		ch := (i / inner) % channels
		var zp int64
		if len(q.ZeroPoint) > 0 {
			zp = q.ZeroPoint[ch]
		}
		out.F[i] = float32(v-zp) * q.Scale[ch]
	}
	return out, nil
}

// maxDense bounds a densified weight (64 Mi values): a corrupt sparse
// tensor's shape must not make the converter allocate without bound.
const maxDense = 1 << 26

// densify expands a sparse constant (its stored values in c) to the dense
// tensor of shape t.Shape, following TFLite's sparsity format: dimensions
// are visited in traversal order, a dense one by counting to its size, a
// CSR one through its segments and indices; block dimensions (past the
// original rank) refine the original dimension BlockMap names.
func densify(t *Tensor, c *constant) (*constant, error) {
	sp := t.Sparsity
	rank := len(t.Shape)
	levels := len(sp.TraversalOrder)
	if levels < rank || len(sp.Dims) != levels || len(sp.BlockMap) != levels-rank {
		return nil, fmt.Errorf("tensor %q: sparsity has %d levels, %d dimension metadata and %d block dimensions for rank %d",
			t.Name, levels, len(sp.Dims), len(sp.BlockMap), rank)
	}
	block := make([]int, levels-rank)
	for i := range block {
		block[i] = sp.Dims[rank+i].DenseSize
		if bm := sp.BlockMap[i]; bm < 0 || bm >= rank || block[i] <= 0 {
			return nil, fmt.Errorf("tensor %q: bad block dimension %d", t.Name, i)
		}
	}
	n := elements(t.Shape)
	if n > maxDense {
		return nil, fmt.Errorf("tensor %q: %d values is more than a weight of an edge model holds (%d)", t.Name, n, maxDense)
	}
	out := &constant{Shape: t.Shape, Int: c.Int}
	if c.Int {
		out.I = make([]int64, n)
	} else {
		out.F = make([]float32, n)
	}
	stored := max(len(c.F), len(c.I))
	idx := make([]int, levels)
	orig := make([]int, rank)
	next := 0
	var walk func(level, prev int) error
	walk = func(level, prev int) error {
		if level == levels {
			for i := range rank {
				d := sp.TraversalOrder[i]
				if d < 0 || d >= rank {
					return fmt.Errorf("traversal order %v", sp.TraversalOrder)
				}
				orig[d] = idx[i]
			}
			for i := rank; i < levels; i++ {
				b := sp.TraversalOrder[i] - rank
				if b < 0 || b >= len(block) {
					return fmt.Errorf("traversal order %v", sp.TraversalOrder)
				}
				d := sp.BlockMap[b]
				orig[d] = orig[d]*block[b] + idx[i]
			}
			flat := 0
			for d := range rank {
				if orig[d] >= t.Shape[d] {
					return fmt.Errorf("index %v outside shape %v", orig, t.Shape)
				}
				flat = flat*t.Shape[d] + orig[d]
			}
			if next >= stored {
				return fmt.Errorf("more positions than the %d stored values", stored)
			}
			if c.Int {
				out.I[flat] = c.I[next]
			} else {
				out.F[flat] = c.F[next]
			}
			next++
			return nil
		}
		dm := sp.Dims[level]
		if !dm.Sparse {
			for i := range dm.DenseSize {
				idx[level] = i
				if err := walk(level+1, prev*dm.DenseSize+i); err != nil {
					return err
				}
			}
			return nil
		}
		if prev+1 >= len(dm.Segments) {
			return fmt.Errorf("level %d: segment %d of %d", level, prev, len(dm.Segments))
		}
		for i := dm.Segments[prev]; i < dm.Segments[prev+1]; i++ {
			if i < 0 || i >= len(dm.Indices) {
				return fmt.Errorf("level %d: index %d of %d", level, i, len(dm.Indices))
			}
			idx[level] = dm.Indices[i]
			if err := walk(level+1, i); err != nil {
				return err
			}
		}
		return nil
	}
	if err := walk(0, 0); err != nil {
		return nil, fmt.Errorf("tensor %q: sparse data: %w", t.Name, err)
	}
	if next != stored {
		return nil, fmt.Errorf("tensor %q: sparse data: %d values stored, %d positions", t.Name, stored, next)
	}
	return out, nil
}

// permute transposes a constant: out dimension i is in dimension perm[i].
func (c *constant) permute(perm []int) *constant {
	rank := len(c.Shape)
	shape := make([]int, rank)
	for i, p := range perm {
		shape[i] = c.Shape[p]
	}
	strides := make([]int, rank)
	s := 1
	for d := rank - 1; d >= 0; d-- {
		strides[d] = s
		s *= c.Shape[d]
	}
	out := &constant{Shape: shape, Int: c.Int}
	n := elements(shape)
	if c.Int {
		out.I = make([]int64, n)
	} else {
		out.F = make([]float32, n)
	}
	idx := make([]int, rank)
	for o := range n {
		src := 0
		for i := range rank {
			src += idx[i] * strides[perm[i]]
		}
		if c.Int {
			out.I[o] = c.I[src]
		} else {
			out.F[o] = c.F[src]
		}
		for i := rank - 1; i >= 0; i-- {
			idx[i]++
			if idx[i] < shape[i] {
				break
			}
			idx[i] = 0
		}
	}
	return out
}
