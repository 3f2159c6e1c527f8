package component

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/edgeflow/edgeflow/internal/didyoumean"
	"go.yaml.in/yaml/v3"
)

// Parse checks a component's YAML mapping against fields and returns its
// config. Keys in skip belong to the caller (type, input, buffer, ...) and
// are left alone. file and path only label errors. Every problem found is
// returned, each an *Error.
func Parse(fields []Field, node *yaml.Node, file, path string, skip map[string]bool) (*Config, []error) {
	c := &Config{file: file, path: path, node: node, fields: map[string]Field{},
		values: map[string]any{}, at: map[string]*yaml.Node{}}
	var errs []error
	bad := func(n *yaml.Node, key, format string, args ...any) {
		errs = append(errs, &Error{File: file, Line: n.Line, Column: n.Column, Key: key, Msg: fmt.Sprintf(format, args...)})
	}
	for _, f := range fields {
		c.fields[f.Name] = f
	}
	if node == nil {
		node = &yaml.Node{Kind: yaml.MappingNode}
	}
	if node.Kind != yaml.MappingNode {
		bad(node, path, "want a mapping of options, got %s", Describe(node))
		return c, errs
	}
	for i := 0; i+1 < len(node.Content); i += 2 {
		k, v := node.Content[i], node.Content[i+1]
		key := path + "." + k.Value
		if skip[k.Value] {
			continue
		}
		f, ok := c.fields[k.Value]
		if !ok {
			if hint := replacement(fields, k.Value, v); hint != "" {
				bad(k, key, "%s is no longer accepted: %s", k.Value, hint)
				continue
			}
			bad(k, key, "unknown key%s", didyoumean.Suggest(k.Value, fieldNames(fields, skip)))
			continue
		}
		if _, dup := c.at[f.Name]; dup {
			bad(k, key, "key given twice")
			continue
		}
		c.at[f.Name] = v
		val, ferrs := parseValue(f, v, file, key)
		errs = append(errs, ferrs...)
		if len(ferrs) == 0 {
			c.values[f.Name] = val
		}
	}
	for _, f := range fields {
		if _, given := c.at[f.Name]; given {
			continue
		}
		switch {
		case f.Default != nil:
			v, _ := coerce(f, f.Default)
			c.values[f.Name] = v
		case f.Type == Object && !f.Optional && !f.Required():
			// Errors about it point at the component.
			at := &yaml.Node{Kind: yaml.MappingNode, Line: node.Line, Column: node.Column}
			sub, _ := Parse(f.Fields, at, file, path+"."+f.Name, nil)
			c.values[f.Name] = sub
		case f.Required():
			bad(node, path, "missing required key %q (%s)", f.Name, f.Type)
		}
	}
	return c, errs
}

// replacement returns the hint of the field that replaced key, or "".
func replacement(fields []Field, key string, v *yaml.Node) string {
	for _, f := range fields {
		if hint, ok := f.Replaces[key]; ok {
			old := ""
			if v.Kind == yaml.ScalarNode {
				old = v.Value
			}
			return hint(old)
		}
	}
	return ""
}

func fieldNames(fields []Field, skip map[string]bool) []string {
	var names []string
	for _, f := range fields {
		names = append(names, f.Name)
	}
	for k := range skip {
		names = append(names, k)
	}
	return names
}

func parseValue(f Field, v *yaml.Node, file, key string) (any, []error) {
	fail := func(format string, args ...any) (any, []error) {
		return nil, []error{&Error{File: file, Line: v.Line, Column: v.Column, Key: key, Msg: fmt.Sprintf(format, args...)}}
	}
	if v.Kind == yaml.AliasNode {
		v = v.Alias
	}
	switch f.Type {
	case Object:
		if v.Kind != yaml.MappingNode {
			return fail("want an object, got %s", Describe(v))
		}
		sub, errs := Parse(f.Fields, v, file, key, nil)
		return sub, errs
	case ObjectList:
		if v.Kind != yaml.SequenceNode {
			return fail("want a list of objects, got %s", Describe(v))
		}
		var list []*Config
		var errs []error
		for i, item := range v.Content {
			sub, e := Parse(f.Fields, item, file, fmt.Sprintf("%s[%d]", key, i), nil)
			list = append(list, sub)
			errs = append(errs, e...)
		}
		return list, errs
	case Any:
		var out any
		if err := v.Decode(&out); err != nil {
			return fail("%v", err)
		}
		return out, nil
	case StringList:
		if v.Kind == yaml.ScalarNode && v.ShortTag() != "!!null" {
			return []string{v.Value}, nil
		}
		if v.Kind != yaml.SequenceNode {
			return fail("want a list of strings, got %s", Describe(v))
		}
		list := make([]string, 0, len(v.Content))
		for _, item := range v.Content {
			if item.Kind != yaml.ScalarNode || item.ShortTag() == "!!null" {
				return nil, []error{&Error{File: file, Line: item.Line, Column: item.Column, Key: key,
					Msg: fmt.Sprintf("want a string, got %s", Describe(item))}}
			}
			list = append(list, item.Value)
		}
		return list, nil
	case FloatList:
		if v.Kind != yaml.SequenceNode {
			return fail("want a list of numbers, got %s", Describe(v))
		}
		list := make([]float64, 0, len(v.Content))
		for _, item := range v.Content {
			x, err := scalarFloat(item)
			if err != nil {
				return nil, []error{&Error{File: file, Line: item.Line, Column: item.Column, Key: key, Msg: err.Error()}}
			}
			list = append(list, x)
		}
		return list, nil
	case StringMap:
		if v.Kind != yaml.MappingNode {
			return fail("want a map of strings, got %s", Describe(v))
		}
		m := make(map[string]string, len(v.Content)/2)
		for i := 0; i+1 < len(v.Content); i += 2 {
			kk, vv := v.Content[i], v.Content[i+1]
			if vv.Kind != yaml.ScalarNode {
				return nil, []error{&Error{File: file, Line: vv.Line, Column: vv.Column, Key: key + "." + kk.Value,
					Msg: fmt.Sprintf("want a string, got %s", Describe(vv))}}
			}
			m[kk.Value] = vv.Value
		}
		return m, nil
	}
	if v.Kind != yaml.ScalarNode || v.ShortTag() == "!!null" {
		return fail("want a %s, got %s", f.Type, Describe(v))
	}
	val, err := coerce(f, v)
	if err != nil {
		return fail("%v", err)
	}
	return val, nil
}

// coerce turns a scalar node, or a Go default value, into the field's type
// and checks its bounds and enum.
func coerce(f Field, in any) (any, error) {
	var out any
	switch x := in.(type) {
	case *yaml.Node:
		switch f.Type {
		case String:
			out = x.Value
		case Int:
			if x.ShortTag() != "!!int" {
				return nil, fmt.Errorf("want an integer, got %s", Describe(x))
			}
			n, err := strconv.ParseInt(strings.ReplaceAll(x.Value, "_", ""), 0, 64)
			if err != nil || n > math.MaxInt32*int64(1<<31) {
				return nil, fmt.Errorf("integer %q out of range", x.Value)
			}
			out = int(n)
		case Float:
			n, err := scalarFloat(x)
			if err != nil {
				return nil, err
			}
			out = n
		case Bool:
			if x.ShortTag() != "!!bool" {
				return nil, fmt.Errorf("want true or false, got %s", Describe(x))
			}
			var b bool
			if err := x.Decode(&b); err != nil {
				return nil, err
			}
			out = b
		case Duration:
			d, err := time.ParseDuration(x.Value)
			if err != nil {
				return nil, fmt.Errorf("bad duration %q (want a number with a unit: 500ms, 10s, 1m30s)", x.Value)
			}
			if d < 0 {
				return nil, fmt.Errorf("negative duration %q", x.Value)
			}
			out = d
		default:
			return nil, fmt.Errorf("want a %s, got %s", f.Type, Describe(x))
		}
	default:
		out = goDefault(f.Type, in)
		if out == nil {
			return nil, fmt.Errorf("default %v (%T) does not fit type %s", in, in, f.Type)
		}
	}
	if s, ok := out.(string); ok && len(f.Enum) > 0 && !contains(f.Enum, s) {
		return nil, fmt.Errorf("%q is not one of %s", s, strings.Join(f.Enum, ", "))
	}
	var num float64
	switch n := out.(type) {
	case int:
		num = float64(n)
	case float64:
		num = n
	default:
		return out, nil
	}
	if f.Min != nil && num < *f.Min {
		return nil, fmt.Errorf("%v is below the minimum %v", num, *f.Min)
	}
	if f.Max != nil && num > *f.Max {
		return nil, fmt.Errorf("%v is above the maximum %v", num, *f.Max)
	}
	return out, nil
}

// goDefault converts a default written in Go to the field's type, or nil.
func goDefault(t Type, v any) any {
	switch t {
	case String:
		if s, ok := v.(string); ok {
			return s
		}
	case Int:
		if n, ok := v.(int); ok {
			return n
		}
	case Float:
		switch n := v.(type) {
		case float64:
			return n
		case int:
			return float64(n)
		}
	case Bool:
		if b, ok := v.(bool); ok {
			return b
		}
	case Duration:
		switch d := v.(type) {
		case time.Duration:
			return d
		case string:
			if p, err := time.ParseDuration(d); err == nil {
				return p
			}
		}
	case StringList:
		if l, ok := v.([]string); ok {
			return l
		}
	case FloatList:
		if l, ok := v.([]float64); ok {
			return l
		}
	case StringMap:
		if m, ok := v.(map[string]string); ok {
			return m
		}
	case Any:
		return v
	}
	return nil
}

func scalarFloat(n *yaml.Node) (float64, error) {
	if n.Kind == yaml.ScalarNode && (n.ShortTag() == "!!int" || n.ShortTag() == "!!float") {
		var f float64
		if err := n.Decode(&f); err == nil {
			return f, nil
		}
	}
	return 0, fmt.Errorf("want a number, got %s", Describe(n))
}

// Describe names what a YAML node holds, for "want X, got Y" messages, so
// that every config error words it the same way.
func Describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!null":
			return "nothing (null)"
		case "!!str":
			return fmt.Sprintf("the string %q", n.Value)
		default:
			return fmt.Sprintf("%s %s", strings.TrimPrefix(n.ShortTag(), "!!"), n.Value)
		}
	}
	return "an alias"
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
