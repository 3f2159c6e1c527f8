package address

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/edgeflow/edgeflow/codec"
	"github.com/edgeflow/edgeflow/component"
	"github.com/edgeflow/edgeflow/pipeline"
)

// TemplateFrom parses the String field name of conf as a Template. check, if
// not nil, vets the template's Sample (say, that a topic has no wildcard), so
// that a bad literal part is a config error too. Errors point at the field.
func TemplateFrom(conf *component.Config, name string, check func(string) error) (*Template, error) {
	t, err := Parse(conf.String(name))
	if err != nil {
		return nil, conf.Errorf(name, "%v", err)
	}
	if check != nil {
		if err := check(t.Sample()); err != nil {
			if !t.Static() {
				err = fmt.Errorf("%q (with its placeholders filled): %w", t.text, err)
			}
			return nil, conf.Errorf(name, "%v", err)
		}
	}
	return t, nil
}

// Key says where a source takes each message's key from: a token of its
// topic or subject, or a decoded field. The zero Key leaves the key alone.
type Key struct {
	// TopicToken counts the tokens of the topic from 1 (the first); -1 is
	// the last. 0: the key does not come from the topic.
	TopicToken int
	// Field names a top-level decoded field.
	Field string
	sep   string // between topic tokens: "/" for MQTT, "." for NATS
}

// KeyOption is the `key` option of a source. topic says whether the source
// has topics (or subjects) to take a token from.
func KeyOption(topic bool) component.Field {
	sub := []component.Field{
		{Name: "field", Type: component.String, Optional: true, Example: "sensor",
			Description: "Take the key from this decoded field (a CSV column, a JSON member)."},
	}
	desc := "Where each message's key comes from. A message without it goes to the dead-letter sink."
	replaces := map[string]func(string) string{
		"key_field":  func(v string) string { return fmt.Sprintf("write key: {field: %s}", orName(v)) },
		"key_column": func(v string) string { return fmt.Sprintf("write key: {field: %s}", orName(v)) },
	}
	if topic {
		sub = append([]component.Field{{Name: "topic_token", Type: component.Int, Optional: true, Example: "2",
			Description: "Take the key from this token of the topic or subject, counting from 1 (-1 is the last): 2 on plant/s17/temp or plant.s17.temp gives s17."}}, sub...)
		desc = "Where each message's key comes from: `topic_token` or `field`. A message without that token or field goes to the dead-letter sink."
		replaces["key_from_topic"] = func(v string) string {
			if n, err := strconv.Atoi(v); err == nil && n >= 0 {
				return fmt.Sprintf("write key: {topic_token: %d} (tokens now count from 1)", n+1)
			}
			return "write key: {topic_token: N} (tokens now count from 1)"
		}
		replaces["key_token"] = func(v string) string {
			return fmt.Sprintf("write key: {topic_token: %s}", orName(v))
		}
	}
	return component.Field{Name: "key", Type: component.Object, Optional: true, Description: desc,
		Fields: sub, Replaces: replaces}
}

// KeyFrom reads the `key` option of conf. sep separates topic tokens; it
// is "" for a source without topics (and a KeyOption(false)).
func KeyFrom(conf *component.Config, sep string) (Key, error) {
	k := Key{sep: sep}
	c := conf.Object("key")
	if c == nil {
		return k, nil
	}
	k.Field = c.String("field")
	if c.Has("topic_token") {
		if k.TopicToken = c.Int("topic_token"); k.TopicToken == 0 {
			return k, c.Errorf("topic_token", "tokens count from 1 (-1 is the last)")
		}
	}
	switch {
	case k.TopicToken != 0 && c.Given("field"):
		return k, c.Errorf("field", "give topic_token or field, not both")
	case k.TopicToken == 0 && k.Field == "" && sep != "":
		return k, conf.Errorf("key", "give topic_token or field")
	case k.TopicToken == 0 && k.Field == "":
		return k, conf.Errorf("key", "give the field to take the key from")
	}
	return k, nil
}

// Apply sets m's key. m.Topic must be set, and m.Fields decoded, already.
// It fails, naming the token or field, when m has no such token or field.
func (k Key) Apply(m *pipeline.Message) error {
	switch {
	case k.TopicToken != 0:
		tok, ok := token(m.Topic, k.sep, k.TopicToken)
		if !ok {
			return fmt.Errorf("key.topic_token %d: topic %q has only %d tokens", k.TopicToken, m.Topic, strings.Count(m.Topic, k.sep)+1)
		}
		m.Key = tok
	case k.Field != "":
		v, ok := m.Fields[k.Field]
		if !ok || v == nil {
			return fmt.Errorf("key.field %q is missing", k.Field)
		}
		m.Key = codec.FieldString(v)
	}
	return nil
}

// token returns token n (from 1; negative from the end) of s split by sep.
func token(s, sep string, n int) (string, bool) {
	if n < 0 {
		n += strings.Count(s, sep) + 2
	}
	if n < 1 {
		return "", false
	}
	for ; n > 1; n-- {
		i := strings.Index(s, sep)
		if i < 0 {
			return "", false
		}
		s = s[i+len(sep):]
	}
	if i := strings.Index(s, sep); i >= 0 {
		s = s[:i]
	}
	return s, true
}

// Time says which decoded field holds a message's source time, and how it
// is written. The zero Time leaves the source time alone.
type Time struct {
	Field string
	// Optional is set when Field is the spec's default rather than named
	// by the user: a message without it keeps the time it has.
	Optional bool
	parse    Layout
}

// TimeOption is the `time` option of a source. defaultField, if not empty,
// is the field read when the option is absent; a message that lacks it then
// keeps its own time (as it does when the option is absent and there is no
// default). otherwise says, for the docs, what the source time is then.
func TimeOption(defaultField, otherwise string) component.Field {
	f := component.Field{Name: "time", Type: component.Object,
		Description: "Take each message's source time from a decoded field. A message without that field, or whose value is not a time in `format`, goes to the dead-letter sink. Without this option the source time is " + otherwise + ".",
		Fields: []component.Field{
			{Name: "field", Type: component.String, Example: "ts",
				Description: "Field (CSV column, JSON member) holding the time."},
			{Name: "format", Type: component.String, Default: "auto", Example: "2006-01-02 15:04:05",
				Description: FormatHelp},
		},
		Replaces: map[string]func(string) string{
			"time_field":  func(v string) string { return fmt.Sprintf("write time: {field: %s}", orName(v)) },
			"timestamp":   func(v string) string { return fmt.Sprintf("write time: {field: %s}", orName(v)) },
			"time_format": func(v string) string { return fmt.Sprintf("write time: {format: %q}", v) },
		},
	}
	if defaultField == "" {
		f.Optional = true
	} else {
		f.Fields[0].Default = defaultField
		f.Fields[0].Description += " Empty: messages have no time of their own."
		f.Description = "Take each message's source time from a decoded field. A message without the field named here, or whose value is not a time in `format`, goes to the dead-letter sink. Without this option the `" + defaultField + "` field is read if there is one; otherwise the source time is " + otherwise + "."
	}
	return f
}

// TimeFrom reads the `time` option of conf.
func TimeFrom(conf *component.Config) (Time, error) {
	c := conf.Object("time")
	if c == nil {
		return Time{}, nil
	}
	t := Time{Field: c.String("field"), Optional: !c.Given("field")}
	var err error
	if t.parse, err = NewLayout(c.String("format")); err != nil {
		return t, c.Errorf("format", "%v", err)
	}
	return t, nil
}

// Apply sets m's source time from its field. It fails, naming the field,
// when the field is missing (unless Optional) or does not hold a time.
func (t Time) Apply(m *pipeline.Message) error {
	if t.Field == "" {
		return nil
	}
	v, ok := m.Fields[t.Field]
	if !ok || v == nil {
		if t.Optional {
			return nil
		}
		return fmt.Errorf("time.field %q is missing", t.Field)
	}
	if t.parse == nil { // not from TimeFrom: the format is the spec's
		return fmt.Errorf("time.field %q: no time format", t.Field)
	}
	ts, err := t.parse(v)
	if err != nil {
		return fmt.Errorf("time.field %q: %w", t.Field, err)
	}
	m.SourceTime = ts
	return nil
}

func orName(v string) string {
	if v == "" {
		return "NAME"
	}
	return v
}
