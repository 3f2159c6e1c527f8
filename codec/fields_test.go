package codec

import (
	"math"
	"testing"
	"time"
)

func TestFieldTime(t *testing.T) {
	want := time.Date(2024, 5, 1, 12, 0, 0, 500_000_000, time.UTC)
	for _, v := range []any{"2024-05-01T12:00:00.5Z", float64(want.Unix()) + 0.5} {
		got, err := FieldTime(v)
		if err != nil || !got.Equal(want) {
			t.Errorf("FieldTime(%v) = %v, %v", v, got, err)
		}
	}
	for _, v := range []any{"yesterday", math.NaN(), true, nil} {
		if _, err := FieldTime(v); err == nil {
			t.Errorf("FieldTime(%v) accepted", v)
		}
	}
}

func TestFieldString(t *testing.T) {
	for v, want := range map[any]string{"s17": "s17", 17.0: "17", 2.5: "2.5", nil: "", true: "true"} {
		if got := FieldString(v); got != want {
			t.Errorf("FieldString(%v) = %q, want %q", v, got, want)
		}
	}
}
