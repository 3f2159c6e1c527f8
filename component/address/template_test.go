package address

import (
	"strings"
	"testing"
	"text/template"

	"github.com/edgeflow/edgeflow/pipeline"
)

func testMessage() *pipeline.Message {
	return &pipeline.Message{Key: "s17", Topic: "plant/line3/s17",
		Fields: map[string]any{"line": "L3", "n": 42.5, "count": 7, "ok": true, "empty": "", "none": nil,
			"site": map[string]any{"id": "p1"}},
		Meta: map[string]string{"nats_stream": "IN", "nats_stream_seq": "12"}}
}

func TestRender(t *testing.T) {
	m := testMessage()
	cases := []struct{ tmpl, want, err string }{
		{"alerts/{key}", "alerts/s17", ""},
		{"{topic}/out", "plant/line3/s17/out", ""},
		{"p/{fields.line}/{fields.n}/{fields.count}/{fields.ok}", "p/L3/42.5/7/true", ""},
		{"{fields.site.id}", "p1", ""},
		{"{ key }", "s17", ""},
		{"{meta.nats_stream}-{meta.nats_stream_seq}", "IN-12", ""},
		{"static/topic", "static/topic", ""},
		{"", "", ""},
		{"a/{fields.nope}", "", `field "nope" is missing`},
		{"a/{fields.none}", "", `field "none" is missing`},
		{"a/{fields.line.x}", "", `field "line.x" is missing`},
		{"a/{fields.empty}", "", `field "empty" is empty`},
		{"a/{meta.nope}", "", `metadata "nope" is missing`},
	}
	for _, c := range cases {
		tp, err := Parse(c.tmpl)
		if err != nil {
			t.Fatalf("%q: %v", c.tmpl, err)
		}
		got, err := tp.Render(m, nil)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%q: got %q, %v; want error %q", c.tmpl, got, err, c.err)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("%q: got %q, %v; want %q", c.tmpl, got, err, c.want)
		}
		if b, err := tp.AppendRender([]byte("pre:"), m, nil); err != nil || string(b) != "pre:"+c.want {
			t.Errorf("%q: AppendRender got %q, %v; want %q", c.tmpl, b, err, "pre:"+c.want)
		}
	}
	empty := &pipeline.Message{}
	tp, _ := Parse("a/{key}")
	if _, err := tp.Render(empty, nil); err == nil || !strings.Contains(err.Error(), "the message key is empty") {
		t.Errorf("empty key: %v", err)
	}
}

// escape applies to substituted values only, never to literal text.
func TestRenderEscape(t *testing.T) {
	m := &pipeline.Message{Key: "a b*"}
	tp, _ := Parse("x y.{key}")
	under := func(c byte) byte {
		if c == ' ' || c == '*' {
			return '_'
		}
		return c
	}
	if got, err := tp.Render(m, under); err != nil || got != "x y.a_b_" {
		t.Errorf("got %q, %v", got, err)
	}
}

func TestParseErrors(t *testing.T) {
	cases := []struct{ tmpl, want string }{
		{"a/{key", "unclosed '{' at byte 3"},
		{"a/{key/{topic}", "unclosed '{' at byte 3"},
		{"a/}", "unmatched '}' at byte 3"},
		{"a/{}", "unknown placeholder {}"},
		{"a/{kye}", `unknown placeholder {kye} (did you mean "key"?)`},
		{"a/{field.x}", `unknown placeholder {field.x} (did you mean "fields"?)`},
		{"a/{fields.}", "unknown placeholder {fields.}"},
		{"a/{fields.x..y}", "empty path element"},
		{"a/{meta}", "unknown placeholder {meta}"},
		{"alerts/{{.key}}/{{ .fields.kind }}", `Go template syntax {{...}} is no longer accepted: write "alerts/{key}/{fields.kind}"`},
		{"a/{{if .key}}x{{end}}", "Go template syntax {{...}} is no longer accepted: write placeholders in single braces"},
	}
	for _, c := range cases {
		_, err := Parse(c.tmpl)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: got %v, want an error containing %q", c.tmpl, err, c.want)
		}
	}
}

func TestStaticAndSample(t *testing.T) {
	tp, _ := Parse("plant/{key}/{fields.a.b}/x")
	if tp.Static() || tp.Sample() != "plant/x/x/x" || tp.String() != "plant/{key}/{fields.a.b}/x" {
		t.Errorf("static %v sample %q string %q", tp.Static(), tp.Sample(), tp.String())
	}
	tp, _ = Parse("plant/all")
	if !tp.Static() || tp.Sample() != "plant/all" {
		t.Errorf("static %v sample %q", tp.Static(), tp.Sample())
	}
}

// Rendering allocates the result string and nothing else; a static template
// nothing at all.
func TestRenderAllocations(t *testing.T) {
	m := testMessage()
	tp, _ := Parse("plant/{key}/{fields.line}/{fields.n}/{meta.nats_stream}")
	if n := testing.AllocsPerRun(100, func() { _, _ = tp.Render(m, nil) }); n != 1 {
		t.Errorf("%v allocations per render, want 1", n)
	}
	if n := testing.AllocsPerRun(100, func() { _, _ = tp.Render(m, func(c byte) byte { return c }) }); n != 1 {
		t.Errorf("%v allocations per escaped render, want 1", n)
	}
	st, _ := Parse("plant/all")
	if n := testing.AllocsPerRun(100, func() { _, _ = st.Render(m, nil) }); n != 0 {
		t.Errorf("%v allocations per static render, want 0", n)
	}
	buf := make([]byte, 0, 128)
	if n := testing.AllocsPerRun(100, func() { _, _ = tp.AppendRender(buf[:0], m, nil) }); n != 0 {
		t.Errorf("%v allocations per AppendRender into a buffer with room, want 0", n)
	}
}

// BenchmarkRender compares the template with text/template, which the mqtt
// sink used before (same data, same output).
func BenchmarkRender(b *testing.B) {
	m := &pipeline.Message{Key: "sensor-17", Topic: "in/plant/sensor-17",
		Fields: map[string]any{"line": "L3", "n": 42.5}}
	b.Run("address", func(b *testing.B) {
		tp, err := Parse("plant/{key}/{fields.line}/{fields.n}")
		if err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for b.Loop() {
			if _, err := tp.Render(m, nil); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("text_template", func(b *testing.B) {
		tp := template.Must(template.New("topic").Option("missingkey=error").Parse("plant/{{.key}}/{{.fields.line}}/{{.fields.n}}"))
		b.ReportAllocs()
		for b.Loop() {
			var sb strings.Builder
			data := map[string]any{"key": m.Key, "topic": m.Topic, "fields": m.Fields, "meta": m.Meta}
			if err := tp.Execute(&sb, data); err != nil {
				b.Fatal(err)
			}
			_ = sb.String()
		}
	})
}
