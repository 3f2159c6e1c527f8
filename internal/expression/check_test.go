package expression

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/edgeflow/edgeflow/component/schema"
)

var declared = schema.Schema{Closed: true, From: "as declared in sources.readings.fields", Fields: map[string]schema.Type{
	"temperature": schema.Float, "machine": schema.String, "seq": schema.Float, "ok": schema.Bool,
	"tags": schema.List, "extra": schema.Object, "blob": schema.Any, "window": schema.Floats, "count": schema.Int,
}}

// Each class of mistake that used to pass validation and fail on every
// message, with the place in the expression that is at fault.
func TestCheckFindsMistakes(t *testing.T) {
	for _, c := range []struct {
		src, want string
		col       int
		s         schema.Schema
	}{
		{"seq % 7 == 0", "% takes integers, and seq is a float (JSON, CSV and generated numbers all are): write int(seq)", 5, declared},
		{"seq % 7 == 0", "% takes integers, and number fields are floats", 5, schema.Unknown()},
		{"10 % fields.seq", "write int(fields.seq)", 4, declared},
		{"let t = temperature; t % 1", "mismatched types float and int", 24, declared},
		{`temperature > "hot"`, "invalid operation: > (mismatched types float and string)", 13, declared},
		{"tempreature > 3", `no field "tempreature" (did you mean "temperature"?); the messages here have blob (any), count (int), extra (object), machine (string), ok (bool), seq (float), tags (list), temperature (float), window (floats) (as declared in sources.readings.fields)`, 1, declared},
		{"temperature > 3 && machnie == 'a'", `no field "machnie" (did you mean "machine"?)`, 20, declared},
		{"upper(temperature)", "cannot use float as argument (type string) to call upper", 7, declared},
		{"machine + 1", "mismatched types string and int", 9, declared},
		{"ok && temperature", "mismatched types bool and float", 4, declared},
		{"fields.tempreature > 3", `no field "tempreature" in fields (did you mean "temperature"?)`, 8, declared},
	} {
		_, err := Check(c.src, c.s)
		var e *Error
		if !errors.As(err, &e) {
			t.Errorf("%s: got %v, want an *Error", c.src, err)
			continue
		}
		if !strings.Contains(e.Msg, c.want) || e.Line != 1 || e.Column != c.col {
			t.Errorf("%s: got %d:%d %q, want 1:%d and %q", c.src, e.Line, e.Column, e.Msg, c.col, c.want)
		}
		if !strings.HasPrefix(err.Error(), fmt.Sprintf("expression %q: ", c.src)) {
			t.Errorf("%s: error %q does not quote the expression", c.src, err)
		}
	}
}

// What must pass: every field read in the ways expressions do, the names
// for the message itself, and anything about fields nobody declared.
func TestCheckAccepts(t *testing.T) {
	for src, want := range map[string]schema.Type{
		"temperature * 1.8 + 32":                schema.Float,
		"temperature > 3":                       schema.Bool,
		"temperature == nil || temperature > 3": schema.Bool,
		"temperature ?? 0":                      schema.Any,
		"int(seq) % 7 == 0":                     schema.Bool,
		"count % 2":                             schema.Int,
		"len(window) > 0 && window[0] > 1":      schema.Bool,
		"string(temperature) + machine":         schema.String,
		`machine startsWith "press" && ok`:      schema.Bool,
		"meta.line + key + topic":               schema.String,
		"(ingest_time - source_time).Seconds()": schema.Float,
		"let t = temperature; t > 1 ? 1 : 2":    schema.Int,
		"let n = 3; n % 2":                      schema.Int,
		"all(tags, # != nil)":                   schema.Bool,
		"blob.x.y > 3":                          schema.Bool,
		"extra.a ?? 1":                          schema.Any,
		"round(temperature * 1000) / 1000":      schema.Float,
		"fields.temperature":                    schema.Float,
		`fields["temperature"] > 3`:             schema.Bool,
		"temperature in [1, 2]":                 schema.Bool,
	} {
		got, err := Check(src, declared)
		if err != nil {
			t.Errorf("%s: %v", src, err)
			continue
		}
		if got != want {
			t.Errorf("%s: result %s, want %s", src, got, want)
		}
	}
	// Nothing known: any name, any use but % on a field.
	for _, src := range []string{"tempreature > 3", `x > "hot"`, "upper(v)", "a.b.c ?? 0", "v + 1", "int(seq) % 7"} {
		if _, err := Check(src, schema.Unknown()); err != nil {
			t.Errorf("%s on unknown fields: %v", src, err)
		}
	}
	// Open with some fields known: those are checked, the rest is not.
	open := schema.Schema{Fields: map[string]schema.Type{"value": schema.Float}}
	if _, err := Check("other > 3 && value > 2", open); err != nil {
		t.Errorf("open schema: %v", err)
	}
	if _, err := Check(`value > "x"`, open); err == nil {
		t.Error("open schema: a known field's type is not checked")
	}
}

func TestCheckBool(t *testing.T) {
	if _, err := Check("temperature", declared, AsBool()); err == nil || !strings.Contains(err.Error(), "produces a float, not a bool") {
		t.Errorf("a float condition: %v", err)
	}
	if _, err := Check("extra", declared, AsBool()); err == nil || !strings.Contains(err.Error(), "produces an object, not a bool") {
		t.Errorf("an object condition: %v", err)
	}
	for _, src := range []string{"ok", "blob", "temperature > 1", "unknown"} {
		s := declared
		if src == "unknown" {
			s = schema.Unknown()
		}
		if _, err := Check(src, s, AsBool()); err != nil {
			t.Errorf("%s: %v", src, err)
		}
	}
}

// Check never panics, whatever the text and schema.
func FuzzCheck(f *testing.F) {
	for _, s := range []string{"value > 3", "seq % 7", "let x = 1; x % y", "fields['a'] % 2", "upper(machine)", "1 %"} {
		f.Add(s, true)
	}
	f.Fuzz(func(t *testing.T, src string, closed bool) {
		s := declared
		s.Closed = closed
		_, _ = Check(src, s)
		_, _ = Check(src, schema.Unknown(), AsBool())
	})
}
