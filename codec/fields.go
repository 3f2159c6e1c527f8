package codec

import (
	"fmt"
	"math"
	"strconv"
)

// FieldString renders a decoded field as a message key: strings as they
// are, numbers without trailing zeros.
func FieldString(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case nil:
		return ""
	default:
		return fmt.Sprint(x)
	}
}

// FieldShape reads a decoded field as a tensor shape: []int64 as edgeflow's
// stages write it, []int, or a JSON list of whole numbers.
func FieldShape(v any) ([]int64, error) {
	switch x := v.(type) {
	case []int64:
		return x, nil
	case []int:
		out := make([]int64, len(x))
		for i, d := range x {
			out[i] = int64(d)
		}
		return out, nil
	case []any:
		out := make([]int64, len(x))
		for i, e := range x {
			f, ok := FieldNumber(e)
			if !ok || f != math.Trunc(f) {
				return nil, fmt.Errorf("shape element %d is %v, not an integer", i, e)
			}
			out[i] = int64(f)
		}
		return out, nil
	}
	return nil, fmt.Errorf("shape holds %T, want a list of integers", v)
}

// FieldNumber reads a decoded field as a number, whatever numeric type a
// decoder or stage gave it.
func FieldNumber(v any) (float64, bool) {
	switch n := v.(type) {
	case float64:
		return n, true
	case float32:
		return float64(n), true
	case int:
		return float64(n), true
	case int64:
		return float64(n), true
	case int32:
		return float64(n), true
	}
	return 0, false
}
