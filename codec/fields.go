package codec

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"
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

// FieldTime reads a decoded field as a time: RFC 3339 text, or a number of
// Unix seconds (fractions allowed), the two forms sensors send.
func FieldTime(v any) (time.Time, error) {
	switch x := v.(type) {
	case string:
		return time.Parse(time.RFC3339Nano, x)
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return time.Time{}, errors.New("not a finite number")
		}
		sec, frac := math.Modf(x)
		return time.Unix(int64(sec), int64(frac*1e9)), nil
	}
	return time.Time{}, fmt.Errorf("want RFC 3339 text or Unix seconds, got %T", v)
}
