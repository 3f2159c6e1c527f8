package reference_test

import (
	"fmt"
	"math"
	"regexp"
	"slices"
	"strings"
)

// validate checks doc against a JSON Schema, supporting the keywords the
// generated schema uses: $ref (to #/$defs), type, properties, required,
// additionalProperties, items, enum, const, pattern, minimum, maximum,
// anyOf, allOf and if/then. It returns the problems found, each with a JSON
// pointer-ish path. It exists so the tests need no schema library.
func validate(root map[string]any, doc any) []string {
	v := &validator{root: root}
	v.check(root, doc, "")
	return v.errs
}

type validator struct {
	root map[string]any
	errs []string
}

func (v *validator) failf(path, format string, args ...any) {
	v.errs = append(v.errs, fmt.Sprintf("%s: %s", orRoot(path), fmt.Sprintf(format, args...)))
}

func orRoot(p string) string {
	if p == "" {
		return "/"
	}
	return p
}

// ok reports whether doc matches s, without recording problems.
func (v *validator) ok(s any, doc any, path string) bool {
	sub := &validator{root: v.root}
	sub.check(s, doc, path)
	return len(sub.errs) == 0
}

func (v *validator) check(schema any, doc any, path string) {
	s, ok := schema.(map[string]any)
	if !ok {
		if b, isBool := schema.(bool); isBool && !b {
			v.failf(path, "not allowed")
		}
		return
	}
	for key, val := range s {
		switch key {
		case "$ref":
			ref := val.(string)
			name, found := strings.CutPrefix(ref, "#/$defs/")
			if !found {
				v.failf(path, "unsupported $ref %q", ref)
				continue
			}
			def, exists := v.root["$defs"].(map[string]any)[name]
			if !exists {
				v.failf(path, "dangling $ref %q", ref)
				continue
			}
			v.check(def, doc, path)
		case "type":
			var types []string
			switch t := val.(type) {
			case string:
				types = []string{t}
			case []any:
				for _, x := range t {
					types = append(types, x.(string))
				}
			}
			if !slices.ContainsFunc(types, func(t string) bool { return hasType(doc, t) }) {
				v.failf(path, "want %s, got %T", strings.Join(types, " or "), doc)
			}
		case "enum":
			if !slices.ContainsFunc(val.([]any), func(e any) bool { return equal(e, doc) }) {
				v.failf(path, "%v is not in the enum %v", doc, val)
			}
		case "const":
			if !equal(val, doc) {
				v.failf(path, "want %v, got %v", val, doc)
			}
		case "pattern":
			if str, isStr := doc.(string); isStr && !regexp.MustCompile(val.(string)).MatchString(str) {
				v.failf(path, "%q does not match %s", str, val)
			}
		case "minimum":
			if n, isNum := number(doc); isNum && n < val.(float64) {
				v.failf(path, "%v is below %v", n, val)
			}
		case "maximum":
			if n, isNum := number(doc); isNum && n > val.(float64) {
				v.failf(path, "%v is above %v", n, val)
			}
		case "required":
			if m, isMap := doc.(map[string]any); isMap {
				for _, r := range val.([]any) {
					if _, has := m[r.(string)]; !has {
						v.failf(path, "missing required key %q", r)
					}
				}
			}
		case "properties":
			if m, isMap := doc.(map[string]any); isMap {
				for k, sub := range val.(map[string]any) {
					if x, has := m[k]; has {
						v.check(sub, x, path+"/"+k)
					}
				}
			}
		case "additionalProperties":
			m, isMap := doc.(map[string]any)
			if !isMap {
				continue
			}
			props, _ := s["properties"].(map[string]any)
			for k, x := range m {
				if _, declared := props[k]; !declared {
					if b, isBool := val.(bool); isBool && !b {
						v.failf(path+"/"+k, "unknown key")
					} else {
						v.check(val, x, path+"/"+k)
					}
				}
			}
		case "items":
			if list, isList := doc.([]any); isList {
				for i, x := range list {
					v.check(val, x, fmt.Sprintf("%s/%d", path, i))
				}
			}
		case "allOf":
			for _, sub := range val.([]any) {
				v.check(sub, doc, path)
			}
		case "anyOf":
			if !slices.ContainsFunc(val.([]any), func(sub any) bool { return v.ok(sub, doc, path) }) {
				v.failf(path, "%v matches none of the alternatives", doc)
			}
		case "if":
			if v.ok(val, doc, path) {
				if then, has := s["then"]; has {
					v.check(then, doc, path)
				}
			}
		case "then", "$schema", "$id", "$defs", "title", "description", "default", "examples":
		default:
			v.failf(path, "validator does not support keyword %q", key)
		}
	}
}

func hasType(doc any, t string) bool {
	switch t {
	case "object":
		_, ok := doc.(map[string]any)
		return ok
	case "array":
		_, ok := doc.([]any)
		return ok
	case "string":
		_, ok := doc.(string)
		return ok
	case "boolean":
		_, ok := doc.(bool)
		return ok
	case "number":
		_, ok := number(doc)
		return ok
	case "integer":
		n, ok := number(doc)
		return ok && n == math.Trunc(n)
	case "null":
		return doc == nil
	}
	return false
}

func number(doc any) (float64, bool) {
	switch n := doc.(type) {
	case int:
		return float64(n), true
	case int64:
		return float64(n), true
	case uint64:
		return float64(n), true
	case float64:
		return n, true
	}
	return 0, false
}

func equal(a, b any) bool {
	x, xn := number(a)
	y, yn := number(b)
	if xn && yn {
		return x == y
	}
	return fmt.Sprintf("%T %v", a, a) == fmt.Sprintf("%T %v", b, b)
}
