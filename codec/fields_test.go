package codec

import "testing"

func TestFieldString(t *testing.T) {
	for v, want := range map[any]string{"s17": "s17", 17.0: "17", 2.5: "2.5", nil: "", true: "true"} {
		if got := FieldString(v); got != want {
			t.Errorf("FieldString(%v) = %q, want %q", v, got, want)
		}
	}
}

func TestFieldShape(t *testing.T) {
	for _, v := range []any{[]int64{1, 3, 416}, []int{1, 3, 416}, []any{1.0, 3.0, 416.0}, []any{int64(1), 3, 416}} {
		got, err := FieldShape(v)
		if err != nil || len(got) != 3 || got[0] != 1 || got[2] != 416 {
			t.Errorf("FieldShape(%v) = %v, %v", v, got, err)
		}
	}
	for _, v := range []any{[]any{1.5}, []any{"3"}, "1x3", nil} {
		if _, err := FieldShape(v); err == nil {
			t.Errorf("FieldShape(%v) accepted", v)
		}
	}
}
