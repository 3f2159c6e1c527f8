package component

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/edgeflow/edgeflow/component/schema"
	"go.yaml.in/yaml/v3"
)

var exprFields = []Field{
	{Name: "condition", Type: String},
	{Name: "set", Type: StringMap, Optional: true},
	FieldsOption(),
}

func parseExpr(t *testing.T, src string) *Config {
	t.Helper()
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(src), &doc); err != nil {
		t.Fatal(err)
	}
	c, errs := Parse(exprFields, doc.Content[0], "p.yaml", "stages.s", nil)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	return c
}

// posErr is an error that knows where in a value's text it lies.
type posErr struct{ line, col int }

func (e posErr) Error() string             { return "bad token" }
func (e posErr) Position() (line, col int) { return e.line, e.col }

// TextError points inside the value where the YAML writes it as is, and at
// the value otherwise.
func TestTextError(t *testing.T) {
	for _, c := range []struct {
		src  string
		pos  posErr
		want string // line:col
	}{
		{"condition: value > x", posErr{1, 9}, "1:20"},
		{"condition: 'value > x'", posErr{1, 9}, "1:21"},
		{`condition: "value > x"`, posErr{1, 9}, "1:21"},
		{`condition: 'a > "x"'`, posErr{1, 3}, "1:15"},
		{`condition: "a > \"x\""`, posErr{1, 3}, "1:12"}, // escapes shift the text: the value
		{"condition: 'it''s'", posErr{1, 3}, "1:12"},
		{"condition: >-\n  value >\n  x", posErr{1, 3}, "1:12"}, // a block: the value
		{"condition: a\nset: {b: c + d}", posErr{1, 5}, "2:14"},
	} {
		conf := parseExpr(t, c.src)
		field, key := "condition", ""
		if strings.Contains(c.src, "set:") {
			field, key = "set", "b"
		}
		err := conf.TextError(field, key, c.pos)
		var e *Error
		if !errors.As(err, &e) {
			t.Fatalf("%q: %T", c.src, err)
		}
		if got := fmt.Sprintf("%d:%d", e.Line, e.Column); got != c.want {
			t.Errorf("%q: at %s, want %s", c.src, got, c.want)
		}
		if !errors.Is(err, c.pos) || e.Msg != "bad token" {
			t.Errorf("%q: %v does not wrap the error", c.src, err)
		}
	}
	// Without a position: the value.
	conf := parseExpr(t, "condition: value > x")
	if err := conf.TextError("condition", "", errors.New("no position")).(*Error); err.Column != 12 {
		t.Errorf("no position: column %d, want 12", err.Column)
	}
}

func TestDeclaredSchema(t *testing.T) {
	conf := parseExpr(t, "condition: x\nfields: {temperature: float, machine: string, tags: list, raw: any}")
	s, err := DeclaredSchema(conf, schema.Unknown())
	if err != nil {
		t.Fatal(err)
	}
	if !s.Closed || len(s.Fields) != 4 || s.Fields["temperature"] != schema.Float || s.Fields["machine"] != schema.String ||
		s.Fields["tags"] != schema.List || s.Fields["raw"] != schema.Any || s.From != "as declared in stages.s.fields" {
		t.Errorf("declared = %+v", s)
	}
	// Nothing declared: what the codec says.
	raw := schema.Schema{Closed: true, From: "from the raw codec", Fields: map[string]schema.Type{"value": schema.String}}
	if s, err := DeclaredSchema(parseExpr(t, "condition: x"), raw); err != nil || !s.Closed || s.Fields["value"] != schema.String {
		t.Errorf("undeclared = %+v, %v", s, err)
	}
	// Every bad type, each at its place; fields fixed by the codec.
	_, err = DeclaredSchema(parseExpr(t, "condition: x\nfields: {n: int, ok: boolean, x: float, y: thing}"), schema.Unknown())
	got := err.Error()
	for _, want := range []string{
		`p.yaml:2:13: stages.s.fields.n: unknown field type "int": write float`,
		`p.yaml:2:22: stages.s.fields.ok: unknown field type "boolean": write bool`,
		`p.yaml:2:44: stages.s.fields.y: unknown field type "thing" (types: float, string, bool, list, object, any)`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("errors %q lack %q", got, want)
		}
	}
	if _, err := DeclaredSchema(parseExpr(t, "condition: x\nfields: {value: float}"), raw); err == nil ||
		!strings.Contains(err.Error(), "the codec always gives value (string)") {
		t.Errorf("fields over a raw codec: %v", err)
	}
}
