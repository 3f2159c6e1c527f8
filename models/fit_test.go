package models

import (
	"slices"
	"testing"

	ort "github.com/yalue/onnxruntime_go"
)

func TestFitInputs(t *testing.T) {
	info := &Info{Inputs: []IO{{Name: "x", Shape: []int64{-1, 1, 4}}}}
	got, err := info.FitInputs([]Tensor{{Shape: []int64{4}, Data: []float32{1, 2, 3, 4}}})
	if err != nil || !slices.Equal(got[0].Shape, []int64{1, 1, 4}) {
		t.Fatalf("a vector was not reshaped to [1 1 4]: %v, %v", got, err)
	}
	keep := Tensor{Shape: []int64{2, 1, 4}, Data: make([]float32, 8)}
	if got, _ := info.FitInputs([]Tensor{keep}); !slices.Equal(got[0].Shape, keep.Shape) {
		t.Fatalf("a fitting batch was reshaped: %v", got[0].Shape)
	}
	if _, err := info.FitInputs([]Tensor{{Shape: []int64{3}, Data: make([]float32, 3)}}); err == nil {
		t.Fatal("3 values accepted for an input of 4")
	}
	if _, err := info.FitInputs(nil); err == nil {
		t.Fatal("missing input accepted")
	}
}

// TestSyntheticInputsRefuseHugeShapes: the kernel check makes inputs for a
// model without stored samples from the shapes its file declares; a shape
// whose count wraps around int64 or runs past the bound is an error, not
// a makeslice panic or an allocation of terabytes.
func TestSyntheticInputsRefuseHugeShapes(t *testing.T) {
	float := func(shape ...int64) *Info {
		return &Info{Inputs: []IO{{Name: "x", Kind: "tensor", Shape: shape, elem: ort.TensorElementDataTypeFloat}}}
	}
	if s, err := syntheticInputs(float(-1, 3, 8, 8)); err != nil || len(s[0].Data) != 3*8*8 {
		t.Fatalf("a small input: %v values, %v", len(s[0].Data), err)
	}
	for _, shape := range [][]int64{{1 << 62, 3}, {3, 6148914691236517206}, {1 << 20, 1 << 20}} {
		if _, err := syntheticInputs(float(shape...)); err == nil {
			t.Errorf("shape %v: no error", shape)
		}
	}
}
