package nats

import (
	"strings"
	"testing"

	"github.com/edgeflow/edgeflow/pipeline"
)

func TestTemplate(t *testing.T) {
	m := &pipeline.Message{Key: "pump 7", Topic: "in.a.b",
		Fields: map[string]any{"n": 3.0, "site": map[string]any{"id": "p*1"}},
		Meta:   map[string]string{"line": "L2"}}
	cases := []struct{ tmpl, want, err string }{
		{"out.{key}", "out.pump_7", ""},
		{"x.{topic}", "x.in.a.b", ""},
		{"{fields.site.id}.{fields.n}.{meta.line}", "p_1.3.L2", ""},
		{"static.subject", "static.subject", ""},
		{"out.{fields.nope}", "", `field "nope" is missing`},
		{"out.{meta.nope}", "", `metadata "nope" is empty`},
	}
	for _, c := range cases {
		tp, err := compileTemplate(c.tmpl)
		if err != nil {
			t.Fatalf("%q: %v", c.tmpl, err)
		}
		got, err := tp.render(m, subjectToken)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%q: got %q, %v; want error %q", c.tmpl, got, err, c.err)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("%q: got %q, %v; want %q", c.tmpl, got, err, c.want)
		}
	}
	for _, bad := range []string{"a.{key", "a.}", "a.{nope}", "a.{fields.}", "a.{fields.x..y}"} {
		if _, err := compileTemplate(bad); err == nil {
			t.Errorf("%q compiled", bad)
		}
	}
	for _, bad := range []string{"", ".a", "a.", "a..b", "a.*", "a b"} {
		if checkSubject(bad) == nil {
			t.Errorf("subject %q accepted", bad)
		}
	}
}
