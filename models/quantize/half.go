package quantize

import (
	"encoding/binary"
	"math"

	"github.com/edgeflow/edgeflow/models/graph"
	"github.com/edgeflow/edgeflow/models/onnxpb"
	"google.golang.org/protobuf/proto"
)

// halfMinElements is the smallest float constant halfFloats stores as
// float16.
const halfMinElements = 1024

// halfFloats stores the large float32 constants that quantisation left
// float (weights of float islands, anchor tables, Constant nodes) as
// float16 behind a Cast to float32. ONNX Runtime folds the Cast when it
// loads the model (constant folding, basic level), so the model runs as
// before, with weights within 2^-11 relative of the originals; the file
// loses two bytes per value. Tensors with values beyond float16's range
// stay float32. It returns the number of tensors converted.
func halfFloats(g *onnxpb.GraphProto) int {
	ix := graph.NewIndex(g)
	ix.RemoveUnused() // weights replaced by int8 copies go first
	// Large float Constant nodes become initializers first.
	kept := g.Node[:0]
	for _, n := range g.Node {
		if n.GetOpType() == "Constant" && len(n.GetAttribute()) == 1 && n.GetAttribute()[0].GetName() == "value" {
			if t := n.GetAttribute()[0].GetT(); t != nil && graph.DataType(t) == onnxpb.TensorProto_FLOAT && graph.Elements(t.GetDims()) >= halfMinElements {
				t = proto.Clone(t).(*onnxpb.TensorProto)
				t.Name = proto.String(n.GetOutput()[0])
				g.Initializer = append(g.Initializer, t)
				continue
			}
		}
		kept = append(kept, n)
	}
	g.Node = kept
	ix.Rebuild()
	listed := map[string]bool{} // IR < 4 lists initializers as graph inputs too
	for _, in := range g.GetInput() {
		listed[in.GetName()] = true
	}
	var casts []*onnxpb.NodeProto
	converted := 0
	for i, t := range g.GetInitializer() {
		if graph.DataType(t) != onnxpb.TensorProto_FLOAT || graph.Elements(t.GetDims()) < halfMinElements || listed[t.GetName()] {
			continue
		}
		v, err := graph.Floats(t)
		if err != nil {
			continue
		}
		raw := make([]byte, 2*len(v))
		ok := true
		for k, x := range v {
			if math.Abs(float64(x)) > 65000 || math.IsNaN(float64(x)) {
				ok = false
				break
			}
			binary.LittleEndian.PutUint16(raw[2*k:], float16Bits(x))
		}
		if !ok {
			continue
		}
		name := t.GetName()
		half := ix.NewName(name + "_fp16")
		g.Initializer[i] = &onnxpb.TensorProto{Name: proto.String(half), DataType: proto.Int32(int32(onnxpb.TensorProto_FLOAT16)),
			Dims: append([]int64{}, t.GetDims()...), RawData: raw}
		casts = append(casts, graph.Node("Cast", ix.NewName(name+"_Cast"), []string{half}, []string{name}, graph.IntAttr("to", int64(onnxpb.TensorProto_FLOAT))))
		converted++
	}
	g.Node = append(casts, g.Node...)
	return converted
}

// float16Bits rounds a float32 to the nearest IEEE 754 half (ties to
// even), with subnormals; the caller keeps values within range.
func float16Bits(f float32) uint16 {
	b := math.Float32bits(f)
	sign := uint16(b>>16) & 0x8000
	exp := int((b>>23)&0xff) - 127 + 15
	mant := b & 0x7fffff
	switch {
	case exp >= 31:
		return sign | 0x7c00
	case exp <= 0:
		if exp < -10 {
			return sign
		}
		mant |= 0x800000
		shift := uint(14 - exp)
		h := mant >> shift
		rem := mant & (1<<shift - 1)
		half := uint32(1) << (shift - 1)
		if rem > half || (rem == half && h&1 == 1) {
			h++
		}
		return sign | uint16(h)
	}
	h := uint32(exp)<<10 | mant>>13
	rem := mant & 0x1fff
	if rem > 0x1000 || (rem == 0x1000 && h&1 == 1) {
		h++ // may carry into the exponent, which is still right
	}
	return sign | uint16(h)
}
