package nats

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/edgeflow/edgeflow/pipeline"
)

// template is a string with placeholders, compiled once: {key}, {topic},
// {fields.NAME} (NAME may be a dotted path into nested objects) and
// {meta.NAME}. Braces and not ${...}: the config loader expands ${VAR} from
// the environment.
type template struct {
	parts []part
	text  string
}

type partKind int

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

func compileTemplate(s string) (*template, error) {
	t := &template{text: s}
	for s != "" {
		open := strings.IndexByte(s, '{')
		if open < 0 {
			if strings.IndexByte(s, '}') >= 0 {
				return nil, errors.New("unmatched '}'")
			}
			t.parts = append(t.parts, part{kind: literal, text: s})
			break
		}
		if open > 0 {
			if strings.IndexByte(s[:open], '}') >= 0 {
				return nil, errors.New("unmatched '}'")
			}
			t.parts = append(t.parts, part{kind: literal, text: s[:open]})
		}
		end := strings.IndexByte(s[open:], '}')
		if end < 0 {
			return nil, errors.New("unclosed '{'")
		}
		name := strings.TrimSpace(s[open+1 : open+end])
		p, err := placeholder(name)
		if err != nil {
			return nil, err
		}
		t.parts = append(t.parts, p)
		s = s[open+end+1:]
	}
	return t, nil
}

func placeholder(name string) (part, error) {
	switch {
	case name == "key":
		return part{kind: keyPart}, nil
	case name == "topic":
		return part{kind: topicPart}, nil
	case strings.HasPrefix(name, "fields.") && len(name) > len("fields."):
		path := strings.Split(strings.TrimPrefix(name, "fields."), ".")
		for _, p := range path {
			if p == "" {
				return part{}, fmt.Errorf("placeholder {%s} has an empty path element", name)
			}
		}
		return part{kind: fieldPart, path: path}, nil
	case strings.HasPrefix(name, "meta.") && len(name) > len("meta."):
		return part{kind: metaPart, text: strings.TrimPrefix(name, "meta.")}, nil
	}
	return part{}, fmt.Errorf("unknown placeholder {%s} (want {key}, {topic}, {fields.NAME} or {meta.NAME})", name)
}

// static reports whether the template has no placeholders.
func (t *template) static() bool {
	return len(t.parts) == 0 || (len(t.parts) == 1 && t.parts[0].kind == literal)
}

// render fills in the placeholders from m; a placeholder whose value is
// missing or empty is an error. clean, if not nil, is applied to each
// substituted value.
func (t *template) render(m *pipeline.Message, clean func(string) string) (string, error) {
	if t.static() {
		return t.text, nil
	}
	var b strings.Builder
	for _, p := range t.parts {
		var v string
		switch p.kind {
		case literal:
			b.WriteString(p.text)
			continue
		case keyPart:
			v = m.Key
		case topicPart:
			v = m.Topic
		case metaPart:
			v = m.Meta[p.text]
		case fieldPart:
			var ok bool
			if v, ok = lookupField(m.Fields, p.path); !ok {
				return "", fmt.Errorf("field %q is missing", strings.Join(p.path, "."))
			}
		}
		if v == "" {
			return "", fmt.Errorf("%s is empty", describe(p))
		}
		if clean != nil {
			v = clean(v)
		}
		b.WriteString(v)
	}
	return b.String(), nil
}

func describe(p part) string {
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

func lookupField(fields map[string]any, path []string) (string, bool) {
	var cur any = fields
	for _, k := range path {
		obj, ok := cur.(map[string]any)
		if !ok {
			return "", false
		}
		if cur, ok = obj[k]; !ok {
			return "", false
		}
	}
	switch x := cur.(type) {
	case string:
		return x, true
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64), true
	case int:
		return strconv.Itoa(x), true
	case int64:
		return strconv.FormatInt(x, 10), true
	case bool:
		return strconv.FormatBool(x), true
	case nil:
		return "", false
	default:
		return fmt.Sprint(x), true
	}
}

// subjectToken makes a substituted value safe inside a subject: whitespace
// and wildcards become '_'. Dots are kept, so {topic} can carry a whole
// subject; an empty token that results is caught by checkSubject.
func subjectToken(v string) string {
	if !strings.ContainsAny(v, " \t\r\n*>") {
		return v
	}
	return strings.Map(func(r rune) rune {
		switch r {
		case ' ', '\t', '\r', '\n', '*', '>':
			return '_'
		}
		return r
	}, v)
}

// checkSubject rejects a rendered subject the server would refuse.
func checkSubject(s string) error {
	if s == "" {
		return errors.New("empty subject")
	}
	if s[0] == '.' || s[len(s)-1] == '.' || strings.Contains(s, "..") {
		return fmt.Errorf("subject %q has an empty token", s)
	}
	if strings.ContainsAny(s, " \t\r\n*>") {
		return fmt.Errorf("subject %q has whitespace or a wildcard", s)
	}
	return nil
}
