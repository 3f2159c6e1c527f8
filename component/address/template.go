// Package address is how components address messages: the Template that
// sinks fill from a message to make a topic, a subject or a message id, and
// the Key and Time option groups with which every source takes a message's
// key and source time from its topic or its fields. One syntax, one indexing
// convention and one behaviour on a missing value, for every component.
package address

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"unsafe"

	"github.com/edgeflow/edgeflow/internal/didyoumean"
	"github.com/edgeflow/edgeflow/pipeline"
)

// Template is a string with placeholders filled from a message, parsed once:
//
//	{key}          the message key
//	{topic}        the topic or subject the message came from
//	{fields.NAME}  a field; NAME may be a dotted path into nested objects
//	{meta.NAME}    a metadata entry (NATS headers, mqtt_qos, ...)
//
// Braces, not ${...}: the config loader expands ${VAR} from the environment
// before a template is parsed. Braces are always placeholders; there is no
// escape for a literal brace. A placeholder whose value is missing or empty
// makes Render fail, so that no message goes to a topic with a hole in it.
type Template struct {
	text   string
	parts  []part // nil when the template has no placeholders
	fixed  int    // bytes of literal text, to size the result
	nholes int
}

type partKind uint8

const (
	literal partKind = iota
	keyPart
	topicPart
	fieldPart
	metaPart
)

type part struct {
	kind partKind
	text string   // the literal, or the meta name
	path []string // field path
}

// Placeholders names the placeholders a Template accepts, for messages and
// docs.
const Placeholders = "{key}, {topic}, {fields.NAME} and {meta.NAME}"

// goTemplate matches the Go text/template actions the mqtt sink once took.
var goTemplate = regexp.MustCompile(`\{\{-?\s*\.([A-Za-z0-9_.]+)\s*-?\}\}`)

// Parse parses a template. Its errors say what is wrong and where in s.
func Parse(s string) (*Template, error) {
	if strings.Contains(s, "{{") {
		hint := "write placeholders in single braces: {key}, {fields.NAME}"
		if conv := goTemplate.ReplaceAllString(s, "{$1}"); !strings.Contains(conv, "{{") {
			if _, err := Parse(conv); err == nil {
				hint = fmt.Sprintf("write %q", conv)
			}
		}
		return nil, fmt.Errorf("%q: Go template syntax {{...}} is no longer accepted: %s", s, hint)
	}
	t := &Template{text: s}
	for i := 0; i < len(s); {
		open := strings.IndexAny(s[i:], "{}")
		if open < 0 {
			t.parts = append(t.parts, part{kind: literal, text: s[i:]})
			t.fixed += len(s) - i
			break
		}
		open += i
		if s[open] == '}' {
			return nil, fmt.Errorf("%q: unmatched '}' at byte %d", s, open+1)
		}
		if open > i {
			t.parts = append(t.parts, part{kind: literal, text: s[i:open]})
			t.fixed += open - i
		}
		end := strings.IndexAny(s[open+1:], "{}")
		if end < 0 || s[open+1+end] == '{' {
			return nil, fmt.Errorf("%q: unclosed '{' at byte %d", s, open+1)
		}
		end += open + 1
		p, err := placeholder(strings.TrimSpace(s[open+1 : end]))
		if err != nil {
			return nil, fmt.Errorf("%q: %w", s, err)
		}
		t.parts = append(t.parts, p)
		t.nholes++
		i = end + 1
	}
	if t.nholes == 0 {
		t.parts = nil
	}
	return t, nil
}

func placeholder(name string) (part, error) {
	head, rest, dotted := strings.Cut(name, ".")
	switch {
	case name == "key":
		return part{kind: keyPart}, nil
	case name == "topic":
		return part{kind: topicPart}, nil
	case head == "fields" && rest != "":
		path := strings.Split(rest, ".")
		for _, p := range path {
			if p == "" {
				return part{}, fmt.Errorf("placeholder {%s} has an empty path element", name)
			}
		}
		return part{kind: fieldPart, path: path}, nil
	case head == "meta" && rest != "":
		return part{kind: metaPart, text: rest}, nil
	}
	hint := ""
	if dotted {
		hint = didyoumean.Suggest(head, []string{"fields", "meta"})
	} else {
		hint = didyoumean.Suggest(head, []string{"key", "topic"})
	}
	return part{}, fmt.Errorf("unknown placeholder {%s}%s (want %s)", name, hint, Placeholders)
}

// String returns the template as written.
func (t *Template) String() string { return t.text }

// Static reports whether the template has no placeholders: it always renders
// as String().
func (t *Template) Static() bool { return t.parts == nil }

// Sample renders the template with every placeholder replaced by "x", so that
// a component can check the shape of what it will render (say, that a topic
// has no wildcard) when it is built rather than per message.
func (t *Template) Sample() string {
	if t.Static() {
		return t.text
	}
	var b strings.Builder
	for _, p := range t.parts {
		if p.kind == literal {
			b.WriteString(p.text)
		} else {
			b.WriteByte('x')
		}
	}
	return b.String()
}

// Render fills in the placeholders from m. escape, if not nil, maps each
// byte of a substituted value (not of the literal text), say to replace
// characters a subject may not contain. A placeholder whose value is missing
// or empty is an error naming it. Rendering a template with placeholders
// allocates the result string and nothing else for string and number values.
func (t *Template) Render(m *pipeline.Message, escape func(byte) byte) (string, error) {
	if t.parts == nil {
		return t.text, nil
	}
	b, err := t.AppendRender(make([]byte, 0, t.fixed+16*t.nholes), m, escape)
	if err != nil || len(b) == 0 {
		return "", err
	}
	// b is not used again: the string can share it, as strings.Builder does.
	return unsafe.String(&b[0], len(b)), nil
}

// AppendRender is Render appending to dst, for a caller that reuses a
// buffer (a sink writing packets): it allocates nothing for string and
// number values while dst has room.
func (t *Template) AppendRender(dst []byte, m *pipeline.Message, escape func(byte) byte) ([]byte, error) {
	if t.parts == nil {
		return append(dst, t.text...), nil
	}
	for i := range t.parts {
		p := &t.parts[i]
		var v string
		switch p.kind {
		case literal:
			dst = append(dst, p.text...)
			continue
		case keyPart:
			v = m.Key
		case topicPart:
			v = m.Topic
		case metaPart:
			var ok bool
			if v, ok = m.Meta[p.text]; !ok {
				return dst, fmt.Errorf("metadata %q is missing", p.text)
			}
		case fieldPart:
			val, ok := lookup(m.Fields, p.path)
			if !ok {
				return dst, fmt.Errorf("field %q is missing", strings.Join(p.path, "."))
			}
			if s, ok := val.(string); ok {
				v = s
			} else if n := appendScalar(dst, val); n != nil {
				dst = n // digits, '.', '-', true, false: nothing to escape
				continue
			} else {
				v = fmt.Sprint(val)
			}
		}
		if v == "" {
			return dst, fmt.Errorf("%s is empty", describe(p))
		}
		if escape == nil {
			dst = append(dst, v...)
			continue
		}
		for j := 0; j < len(v); j++ {
			dst = append(dst, escape(v[j]))
		}
	}
	return dst, nil
}

func describe(p *part) string {
	switch p.kind {
	case keyPart:
		return "the message key"
	case topicPart:
		return "the message topic"
	case metaPart:
		return fmt.Sprintf("metadata %q", p.text)
	default:
		return fmt.Sprintf("field %q", strings.Join(p.path, "."))
	}
}

// lookup follows path into nested objects; a nil value counts as missing.
func lookup(fields map[string]any, path []string) (any, bool) {
	var cur any = fields
	for _, k := range path {
		obj, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = obj[k]; !ok {
			return nil, false
		}
	}
	return cur, cur != nil
}

// appendScalar appends a number or bool as text, or returns nil for other
// types.
func appendScalar(dst []byte, v any) []byte {
	switch x := v.(type) {
	case float64:
		return strconv.AppendFloat(dst, x, 'f', -1, 64)
	case float32:
		return strconv.AppendFloat(dst, float64(x), 'f', -1, 32)
	case int:
		return strconv.AppendInt(dst, int64(x), 10)
	case int64:
		return strconv.AppendInt(dst, x, 10)
	case int32:
		return strconv.AppendInt(dst, int64(x), 10)
	case uint64:
		return strconv.AppendUint(dst, x, 10)
	case bool:
		return strconv.AppendBool(dst, x)
	}
	return nil
}
