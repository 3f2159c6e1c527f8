package graph

import (
	"testing"

	"github.com/edgeflow/edgeflow/models/onnxpb"
)

// The ONNX reader must refuse bad bytes with an error, never panic: a
// truncated or hostile model file reaches it through `model inspect` and
// every model stage.
func FuzzDecode(f *testing.F) {
	m := &onnxpb.ModelProto{Graph: &onnxpb.GraphProto{
		Node:        []*onnxpb.NodeProto{Node("Relu", "r", []string{"x"}, []string{"y"}, IntAttr("a", 1))},
		Initializer: []*onnxpb.TensorProto{FloatTensor("w", []int64{2}, []float32{1, 2})},
	}}
	if b, err := Encode(m); err == nil {
		f.Add(b)
		f.Add(b[:len(b)/2])
	}
	f.Add([]byte{})
	f.Add([]byte{0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := Decode(data)
		if err != nil || m.GetGraph() == nil {
			return
		}
		g := m.GetGraph()
		NewIndex(g)
		_ = TopoSort(Clone(m).GetGraph())
		for _, init := range g.GetInitializer() {
			_, _ = Floats(init)
			_, _ = Int64s(init)
		}
	})
}
