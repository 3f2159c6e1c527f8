package onnx

import (
	"testing"

	"github.com/edgeflow/edgeflow/models"
)

// TestFitShapeGiven checks the shape a message states against the model's
// and the values it carries, including dimensions whose product wraps
// around int64 to the number of values given.
func TestFitShapeGiven(t *testing.T) {
	for _, c := range []struct {
		name       string
		want, give []int64
		n          int
		ok         bool
	}{
		{"fits", []int64{-1, 4}, []int64{2, 4}, 8, true},
		{"batch of one stated", []int64{-1, 4}, []int64{1, 2, 4}, 8, true},
		{"too few values", []int64{-1, 4}, []int64{3, 4}, 8, false},
		{"too many values", []int64{-1, 4}, []int64{1, 4}, 8, false},
		{"fixed dimension differs", []int64{2, 4}, []int64{4, 2}, 8, false},
		{"zero dimension", []int64{-1, -1}, []int64{0, 4}, 0, false},
		{"product wraps to the count", []int64{-1, -1}, []int64{3, 6148914691236517206}, 2, false},
		{"product wraps to zero", []int64{-1, -1}, []int64{1 << 32, 1 << 32}, 0, false},
		{"the model's own product wraps", []int64{3, 6148914691236517206}, nil, 2, false},
		{"a model dimension of zero", []int64{0, 4}, nil, 0, true},
	} {
		got, err := fitShape(c.want, c.give, c.n, true)
		if c.ok != (err == nil) {
			t.Errorf("%s: shape %v, error %v; want ok=%v", c.name, got, err, c.ok)
			continue
		}
		if c.ok && models.Elements(got) != int64(c.n) {
			t.Errorf("%s: shape %v for %d values", c.name, got, c.n)
		}
	}
}
