package schema

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	for _, typ := range Declarable {
		if got, err := Parse(typ.String()); err != nil || got != typ {
			t.Errorf("Parse(%q) = %v, %v", typ, got, err)
		}
	}
	for name, hint := range map[string]string{"int": "write float", "number": "write float", "boolean": "write bool",
		"array": "write list", "map": "write object", "str": "write string", "floats": "", "blob": ""} {
		_, err := Parse(name)
		var te *TypeError
		if !errors.As(err, &te) || !strings.Contains(err.Error(), hint) || !strings.Contains(err.Error(), "(types: float, string, bool, list, object, any)") {
			t.Errorf("Parse(%q): %v, want a *TypeError with %q", name, err, hint)
		}
	}
}

// Of and Zero agree: the type of a type's zero value is the type.
func TestOfZero(t *testing.T) {
	for typ := Any; typ <= Shape; typ++ {
		if got := Of(typ.Zero()); got != typ {
			t.Errorf("Of(%s.Zero()) = %s", typ, got)
		}
	}
	if Of(float32(1)) != Any || Of(uint64(1)) != Any || Of(nil) != Any || Of(time.Now()) != Time {
		t.Error("Of of types no decoder produces")
	}
}

func TestWithWithoutCopy(t *testing.T) {
	s := Schema{Closed: true, Fields: map[string]Type{"a": Float}}
	w := s.With("b", String).Without("a")
	if len(s.Fields) != 1 || s.Fields["a"] != Float {
		t.Errorf("With/Without changed the original: %v", s.Fields)
	}
	if !w.Closed || len(w.Fields) != 1 || w.Fields["b"] != String {
		t.Errorf("got %+v", w)
	}
	if u := Unknown().With("x", Int); u.Closed || u.Fields["x"] != Int {
		t.Errorf("Unknown().With = %+v", u)
	}
}

func TestMerge(t *testing.T) {
	a := Schema{Closed: true, From: "from a", Fields: map[string]Type{"v": Float, "s": String, "only_a": Bool}}
	b := Schema{Closed: true, From: "from b", Fields: map[string]Type{"v": Float, "s": Int}}
	m := Merge(a, b)
	if !m.Closed || m.Fields["v"] != Float || m.Fields["s"] != Any || m.Fields["only_a"] != Bool || m.From != "from a; from b" {
		t.Errorf("Merge(closed, closed) = %+v", m)
	}
	o := Merge(a, Unknown())
	if o.Closed || o.Fields["v"] != Any || o.Fields["only_a"] != Any {
		t.Errorf("Merge(closed, unknown) = %+v: want open, every field any", o)
	}
	if one := Merge(a); !one.Closed || len(one.Fields) != 3 {
		t.Errorf("Merge(a) = %+v", one)
	}
	if none := Merge(); none.Closed || len(none.Fields) != 0 {
		t.Errorf("Merge() = %+v", none)
	}
	if a.Fields["s"] != String {
		t.Error("Merge changed an input")
	}
}
