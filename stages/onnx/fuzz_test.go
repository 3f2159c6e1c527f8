package onnx

import (
	"encoding/json"
	"math"
	"testing"

	"github.com/edgeflow/edgeflow/codec"
)

// FuzzMessageShape feeds the onnx stage's reading of a message's tensor
// (a list of numbers and an optional shape field, as JSON decodes them)
// against a model input shape: whatever the message says, the result is an
// error or a shape that holds exactly the values given, positive in every
// dimension and equal to the model's where the model fixes it.
func FuzzMessageShape(f *testing.F) {
	f.Add(`[1,2,3,4,5,6,7,8]`, `[2,4]`, int64(-1), int64(4), true)
	f.Add(`[1,2,3,4]`, `[1,1,4]`, int64(-1), int64(4), true)
	f.Add(`[1,2]`, `[3,6148914691236517206]`, int64(-1), int64(-1), false)
	f.Add(`[1,2,3]`, `null`, int64(3), int64(1), false)
	f.Add(`[0.5,"x"]`, `[-1,2]`, int64(2), int64(-1), true)
	f.Add(`[1,2]`, `null`, int64(3), int64(6148914691236517206), false) // the model's own product wraps to 2
	f.Fuzz(func(t *testing.T, values, shape string, w0, w1 int64, batched bool) {
		var v, sv any
		if json.Unmarshal([]byte(values), &v) != nil {
			return
		}
		data, given, err := toFloat32(v)
		if err != nil {
			return
		}
		if json.Unmarshal([]byte(shape), &sv) == nil && sv != nil {
			if given, err = codec.FieldShape(sv); err != nil {
				return
			}
		}
		want := []int64{w0, w1}
		got, err := fitShape(want, given, len(data), batched)
		if err != nil {
			return
		}
		if count, ok := product(got); !ok || count != int64(len(data)) || len(got) != len(want) {
			t.Fatalf("want %v, shape field %s, %d values: accepted shape %v", want, shape, len(data), got)
		}
		for i, d := range want {
			if d >= 0 && got[i] != d {
				t.Fatalf("want %v: accepted shape %v", want, got)
			}
		}
	})
}

// product multiplies shape's dimensions, reporting false on a negative one
// or an int64 overflow.
func product(shape []int64) (int64, bool) {
	n := int64(1)
	for _, d := range shape {
		if d < 0 || (d > 0 && n > math.MaxInt64/d) {
			return 0, false
		}
		n *= d
	}
	return n, true
}
