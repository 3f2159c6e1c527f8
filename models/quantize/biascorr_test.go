package quantize

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/edgeflow/edgeflow/models"
	"github.com/edgeflow/edgeflow/models/graph"
	"github.com/edgeflow/edgeflow/models/modeltest"
	"github.com/edgeflow/edgeflow/models/onnxpb"
	"google.golang.org/protobuf/proto"
)

// TestBiasShift checks bias correction against a direct computation: for a
// grouped Conv with 1x1 spatial input, the output mean of the float
// weights minus that of the int8 weights, at the channel means, is the
// shift.
func TestBiasShift(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 1))
	const m, c, group, k = 4, 6, 2, 3 // weights [4, 3, 1, 3]
	dims := []int64{m, c / group, 1, k}
	w := make([]float32, m*(c/group)*k)
	for i := range w {
		w[i] = float32(r.NormFloat64())
	}
	means := []float64{1, -2, 0.5, 3, 0, -1}
	scales := weightScales(w, dims, 0)
	qw := quantizeWeights(w, dims, 0, scales)
	got := biasShift(w, qw, dims, 0, scales, means, group)
	if len(got) != m {
		t.Fatalf("shift has %d values, want %d", len(got), m)
	}
	var nonzero bool
	for o := range m {
		g := o / (m / group)
		var want float64
		for ci := range c / group {
			for j := range k {
				i := (o*(c/group)+ci)*k + j
				want += (float64(w[i]) - float64(qw[i])*float64(scales[o])) * means[g*(c/group)+ci]
			}
		}
		if math.Abs(got[o]-want) > 1e-9 {
			t.Errorf("channel %d: shift %g, want %g", o, got[o], want)
		}
		nonzero = nonzero || want != 0
	}
	if !nonzero {
		t.Fatal("rounding changed nothing; the test proves nothing")
	}
	if biasShift(w, qw, dims, 0, scales, means[:5], group) != nil {
		t.Error("means of the wrong length accepted")
	}
}

// TestStaticBiasCorrection quantises a Conv whose input has a large mean
// (so rounding the weights shifts the output's mean) and checks that bias
// correction brings the int8 output's mean closer to float's.
func TestStaticBiasCorrection(t *testing.T) {
	modeltest.RequireRuntime(t)
	r := rand.New(rand.NewPCG(4, 2))
	const c, m, hw = 8, 4, 6
	w := make([]float32, m*c*9)
	for i := range w {
		w[i] = float32(r.NormFloat64() * 0.3)
	}
	w[0] = 4 // a large weight coarsens channel 0's scale
	model := &onnxpb.ModelProto{
		IrVersion:   proto.Int64(8),
		OpsetImport: []*onnxpb.OperatorSetIdProto{{Domain: proto.String(""), Version: proto.Int64(13)}},
		Graph: &onnxpb.GraphProto{Name: proto.String("conv"),
			Node: []*onnxpb.NodeProto{graph.Node("Conv", "conv", []string{"x", "w", "b"}, []string{"y"}, graph.IntsAttr("pads", 1, 1, 1, 1))},
			Initializer: []*onnxpb.TensorProto{graph.FloatTensor("w", []int64{m, c, 3, 3}, w),
				graph.FloatTensor("b", []int64{m}, make([]float32, m))},
			Input:  []*onnxpb.ValueInfoProto{shaped("x", 1, c, hw, hw)},
			Output: []*onnxpb.ValueInfoProto{graph.FloatValueInfo("y")}},
	}
	var samples [][]models.Tensor
	for range 8 {
		x := make([]float32, c*hw*hw)
		for i := range x {
			x[i] = float32(5 + r.NormFloat64())
		}
		samples = append(samples, []models.Tensor{{Shape: []int64{1, c, hw, hw}, Data: x}})
	}
	meanErr := func(q *onnxpb.ModelProto) float64 {
		run := func(m *onnxpb.ModelProto) []float32 {
			data, err := graph.Encode(m)
			if err != nil {
				t.Fatal(err)
			}
			s, err := models.NewSession(data, models.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			var all []float32
			for _, in := range samples {
				out, err := s.Run(in)
				if err != nil {
					t.Fatal(err)
				}
				all = append(all, out[0].Data...)
			}
			return all
		}
		ref, got := run(model), run(q)
		var e float64
		for i := range ref {
			e += float64(got[i]) - float64(ref[i])
		}
		return math.Abs(e / float64(len(ref)))
	}
	// The Conv's output is the graph output, so ORT cannot fuse it;
	// WeightOnlyIslands stores its weight as int8 anyway, which is what
	// bias correction corrects.
	plain, _, err := Static(model, FromSamples(samples), Options{WeightOnlyIslands: true})
	if err != nil {
		t.Fatal(err)
	}
	corrected, _, err := Static(model, FromSamples(samples), Options{BiasCorrection: true, WeightOnlyIslands: true})
	if err != nil {
		t.Fatal(err)
	}
	// By default an unfused Conv keeps its small float weight, which ORT
	// prepacks, instead of dequantising an int8 copy on every run.
	def, rep, err := Static(model, FromSamples(samples), Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range def.GetGraph().GetNode() {
		if n.GetOpType() == "Conv" && n.GetInput()[1] != "w" {
			t.Errorf("unfused Conv reads weight %q, want the float initializer w (%v)", n.GetInput()[1], rep.Skipped)
		}
	}
	before, after := meanErr(plain), meanErr(corrected)
	t.Logf("mean output error: %.4g without bias correction, %.4g with", before, after)
	if after >= before/2 {
		t.Errorf("bias correction left a mean error of %.4g (%.4g without), want less than half", after, before)
	}
}

// shaped is a float tensor's value info with a fixed shape.
func shaped(name string, dims ...int64) *onnxpb.ValueInfoProto {
	shape := &onnxpb.TensorShapeProto{}
	for _, d := range dims {
		shape.Dim = append(shape.Dim, &onnxpb.TensorShapeProto_Dimension{Value: &onnxpb.TensorShapeProto_Dimension_DimValue{DimValue: d}})
	}
	return &onnxpb.ValueInfoProto{Name: proto.String(name), Type: &onnxpb.TypeProto{Value: &onnxpb.TypeProto_TensorType{
		TensorType: &onnxpb.TypeProto_Tensor{ElemType: proto.Int32(int32(onnxpb.TensorProto_FLOAT)), Shape: shape}}}}
}
