// Package schema describes the fields of the messages a pipeline node emits,
// so that `edgeflow validate` can type-check expressions before anything
// runs. Sources say what their messages hold (from their config, a declared
// `fields:` option or a sample of their files); each stage derives its
// output from its input; fan-in merges. Where nothing is known the schema
// is open: any name is accepted, with a type found only at run time.
package schema

import (
	"maps"
	"slices"
	"strings"
	"time"
)

// Type is the type of a message field as an expression sees it: the Go
// type a decoder or stage puts into Message.Fields.
type Type uint8

const (
	Any    Type = iota // not known before run time
	Float              // float64: every number a decoder reads (JSON, CSV, generated)
	Int                // int: counters set by stages (a window's count)
	String             // string
	Bool               // bool
	Time               // time.Time
	List               // []any: a JSON array
	Object             // map[string]any: a JSON object
	Floats             // []float32: windows and tensors
	Shape              // []int64: a tensor's shape
)

var names = [...]string{Any: "any", Float: "float", Int: "int", String: "string", Bool: "bool",
	Time: "time", List: "list", Object: "object", Floats: "floats", Shape: "shape"}

func (t Type) String() string {
	if int(t) < len(names) {
		return names[t]
	}
	return "any"
}

// Zero returns a value of t's Go type, or nil for Any.
func (t Type) Zero() any {
	switch t {
	case Float:
		return float64(0)
	case Int:
		return 0
	case String:
		return ""
	case Bool:
		return false
	case Time:
		return time.Time{}
	case List:
		return []any{}
	case Object:
		return map[string]any{}
	case Floats:
		return []float32{}
	case Shape:
		return []int64{}
	}
	return nil
}

// Of returns the type of a decoded value, Any for nil and for types no
// decoder produces.
func Of(v any) Type {
	switch v.(type) {
	case float64:
		return Float
	case int:
		return Int
	case string:
		return String
	case bool:
		return Bool
	case time.Time:
		return Time
	case []any:
		return List
	case map[string]any:
		return Object
	case []float32:
		return Floats
	case []int64:
		return Shape
	}
	return Any
}

// Declarable are the types a user may declare for a decoded field (json and
// csv decoders produce no others).
var Declarable = []Type{Float, String, Bool, List, Object, Any}

// Parse reads a declared type name. Integer spellings are refused with the
// reason: decoders read every number as a float.
func Parse(name string) (Type, error) {
	for _, t := range Declarable {
		if t.String() == name {
			return t, nil
		}
	}
	switch strings.ToLower(name) {
	case "int", "integer", "number", "double", "float64", "long":
		return Any, &TypeError{Name: name, Hint: "write float: JSON and CSV numbers are decoded as floats (use int(x) in an expression that needs an integer)"}
	case "str", "text":
		return Any, &TypeError{Name: name, Hint: "write string"}
	case "boolean":
		return Any, &TypeError{Name: name, Hint: "write bool"}
	case "array":
		return Any, &TypeError{Name: name, Hint: "write list"}
	case "map":
		return Any, &TypeError{Name: name, Hint: "write object"}
	}
	return Any, &TypeError{Name: name}
}

// TypeError is a declared type that Parse does not know.
type TypeError struct{ Name, Hint string }

func (e *TypeError) Error() string {
	var known []string
	for _, t := range Declarable {
		known = append(known, t.String())
	}
	msg := "unknown field type " + quote(e.Name)
	if e.Hint != "" {
		msg += ": " + e.Hint
	}
	return msg + " (types: " + strings.Join(known, ", ") + ")"
}

func quote(s string) string { return `"` + s + `"` }

// Schema is what is known of the fields of the messages a node emits.
// The zero Schema knows nothing: any field may be there, of any type.
type Schema struct {
	// Fields maps the names known to their types. A message may still lack
	// one (an expression then sees nil).
	Fields map[string]Type
	// Closed says the messages have no other fields, so that an
	// expression naming another is a mistake.
	Closed bool
	// From says where the field list comes from, for error messages:
	// "as declared in sources.readings.fields", "from the header of a.csv".
	From string
}

// Unknown is the schema of messages nothing is known about.
func Unknown() Schema { return Schema{} }

// Names returns the known field names, sorted.
func (s Schema) Names() []string {
	return slices.Sorted(maps.Keys(s.Fields))
}

// Lookup returns the type of name and whether it is known. In an open
// schema an unlisted name is Any.
func (s Schema) Lookup(name string) (Type, bool) {
	t, ok := s.Fields[name]
	return t, ok
}

// With returns s with field name set to t; s is not changed.
func (s Schema) With(name string, t Type) Schema {
	out := s
	out.Fields = maps.Clone(s.Fields)
	if out.Fields == nil {
		out.Fields = map[string]Type{}
	}
	out.Fields[name] = t
	return out
}

// Without returns s without field name; s is not changed.
func (s Schema) Without(name string) Schema {
	out := s
	out.Fields = maps.Clone(s.Fields)
	delete(out.Fields, name)
	return out
}

// Merge is the schema of a node fed by nodes of the schemas in: it is
// closed when every input is, a field is known when some input knows it,
// and its type is the one every input that has it agrees on (else Any, as
// it is when an open input may have it with another type).
func Merge(in ...Schema) Schema {
	switch len(in) {
	case 0:
		return Unknown()
	case 1:
		return in[0]
	}
	out := Schema{Fields: map[string]Type{}, Closed: true}
	var from []string
	for _, s := range in {
		out.Closed = out.Closed && s.Closed
		if s.From != "" && !slices.Contains(from, s.From) {
			from = append(from, s.From)
		}
		for name, t := range s.Fields {
			if prev, seen := out.Fields[name]; seen && prev != t {
				t = Any
			}
			out.Fields[name] = t
		}
	}
	for name := range out.Fields {
		for _, s := range in {
			if _, has := s.Fields[name]; !has && !s.Closed {
				out.Fields[name] = Any // the open input may carry it with another type
			}
		}
	}
	out.From = strings.Join(from, "; ")
	return out
}
