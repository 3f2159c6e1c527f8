package models

import (
	"slices"
	"testing"
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
