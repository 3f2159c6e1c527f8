package component

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Error is a config problem at a place in a YAML file.
type Error struct {
	File         string
	Line, Column int
	Key          string // dotted path of the key at fault, e.g. sources.temp.rate
	Msg          string
	// Err is the underlying error, if the problem came from one; Msg
	// already includes its text.
	Err error
}

// Unwrap returns the underlying error, so errors.Is and errors.As see it.
func (e *Error) Unwrap() error { return e.Err }

func (e *Error) Error() string {
	loc := e.File
	if loc == "" {
		loc = "<config>"
	}
	if e.Line > 0 {
		loc = fmt.Sprintf("%s:%d:%d", loc, e.Line, e.Column)
	}
	if e.Key != "" {
		return fmt.Sprintf("%s: %s: %s", loc, e.Key, e.Msg)
	}
	return fmt.Sprintf("%s: %s", loc, e.Msg)
}

// Config is a component's parsed config: every field of its spec, with
// defaults applied and types checked. Getters take a field name from the spec;
// asking for a field the spec lacks, or with the wrong getter, is a
// programming error and panics.
type Config struct {
	file   string
	path   string
	node   *yaml.Node // the mapping, for errors about the whole component
	fields map[string]Field
	values map[string]any
	at     map[string]*yaml.Node // value nodes of the keys that were given
}

func (c *Config) get(name string, want Type) any {
	f, ok := c.fields[name]
	if !ok {
		panic(fmt.Sprintf("component config %s: no field %q in the spec", c.path, name))
	}
	if f.Type != want && !(want == Any) {
		panic(fmt.Sprintf("component config %s: field %q is a %s, not a %s", c.path, name, f.Type, want))
	}
	return c.values[name]
}

// Has reports whether the field was given or has a default.
func (c *Config) Has(name string) bool {
	_, ok := c.values[name]
	return ok
}

// Given reports whether the field was written in the YAML.
func (c *Config) Given(name string) bool {
	_, ok := c.at[name]
	return ok
}

func (c *Config) String(name string) string {
	v, _ := c.get(name, String).(string)
	return v
}

func (c *Config) Int(name string) int {
	v, _ := c.get(name, Int).(int)
	return v
}

func (c *Config) Float(name string) float64 {
	v, _ := c.get(name, Float).(float64)
	return v
}

func (c *Config) Bool(name string) bool {
	v, _ := c.get(name, Bool).(bool)
	return v
}

func (c *Config) Duration(name string) time.Duration {
	v, _ := c.get(name, Duration).(time.Duration)
	return v
}

func (c *Config) StringList(name string) []string {
	v, _ := c.get(name, StringList).([]string)
	return v
}

func (c *Config) FloatList(name string) []float64 {
	v, _ := c.get(name, FloatList).([]float64)
	return v
}

func (c *Config) StringMap(name string) map[string]string {
	v, _ := c.get(name, StringMap).(map[string]string)
	return v
}

// Object returns a nested object's config, or nil when it is optional and
// absent.
func (c *Config) Object(name string) *Config {
	v, _ := c.get(name, Object).(*Config)
	return v
}

func (c *Config) ObjectList(name string) []*Config {
	v, _ := c.get(name, ObjectList).([]*Config)
	return v
}

// Any returns the decoded value of any field.
func (c *Config) Any(name string) any { return c.get(name, Any) }

// Keys returns the keys of a StringMap or Object field in the order written,
// which Go maps do not keep.
func (c *Config) Keys(name string) []string {
	n := c.at[name]
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	keys := make([]string, 0, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		keys = append(keys, n.Content[i].Value)
	}
	return keys
}

// Errorf returns an error that points at the field's value in the YAML (or at
// the component when the field was not written), for problems a constructor
// finds: a file that does not exist, an expression that does not compile.
func (c *Config) Errorf(field string, format string, args ...any) error {
	e := &Error{File: c.file, Key: c.path, Msg: fmt.Sprintf(format, args...)}
	if field != "" {
		e.Key = c.path + "." + field
	}
	n := c.at[field]
	if n == nil {
		n = c.node
	}
	if n != nil {
		e.Line, e.Column = n.Line, n.Column
	}
	return e
}

// ErrorfAt is Errorf for a key inside a StringMap or Object field, pointing
// at that key's value.
func (c *Config) ErrorfAt(field, key string, format string, args ...any) error {
	n := c.at[field]
	if n != nil && n.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == key {
				v := n.Content[i+1]
				return &Error{File: c.file, Line: v.Line, Column: v.Column,
					Key: c.path + "." + field + "." + key, Msg: fmt.Sprintf(format, args...)}
			}
		}
	}
	return c.Errorf(field, format, args...)
}

// TextError is err as an error of the field's value (of key inside it
// when key is not ""), like Errorf and ErrorfAt. When err knows where in
// the value's text it lies (a Position() (line, col int) method, 1-based,
// as expression errors have) and the YAML writes the value on one line as
// is (plain, or quoted without escapes), it points at that place, so that
// an error in an expression points at the token at fault.
func (c *Config) TextError(field, key string, err error) error {
	var out error
	if key == "" {
		out = c.Errorf(field, "%v", err)
	} else {
		out = c.ErrorfAt(field, key, "%v", err)
	}
	e, ok := out.(*Error)
	if !ok {
		return out
	}
	e.Err = err
	var p interface{ Position() (int, int) }
	if !errors.As(err, &p) {
		return e
	}
	line, col := p.Position()
	v := c.at[field]
	if key != "" {
		v = mapValue(v, key)
	}
	if v == nil || v.Kind != yaml.ScalarNode || line != 1 || col < 1 || strings.Contains(v.Value, "\n") || v.Line != e.Line {
		return e
	}
	switch {
	case v.Style == 0:
		e.Column = v.Column + col - 1
	case v.Style == yaml.SingleQuotedStyle && !strings.Contains(v.Value, "'"),
		v.Style == yaml.DoubleQuotedStyle && !strings.ContainsAny(v.Value, `"\`):
		e.Column = v.Column + col // after the opening quote
	}
	return e
}

// mapValue is the value of key in mapping n, or nil.
func mapValue(n *yaml.Node, key string) *yaml.Node {
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}
