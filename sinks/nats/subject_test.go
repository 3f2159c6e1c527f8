package nats

import (
	"testing"

	"github.com/edgeflow/edgeflow/component/address"
	"github.com/edgeflow/edgeflow/pipeline"
)

// Substituted values lose whitespace and wildcards; literal text is checked
// as it is.
func TestSubjectEscaping(t *testing.T) {
	m := &pipeline.Message{Key: "pump 7", Topic: "in.a.b",
		Fields: map[string]any{"n": 3.0, "site": map[string]any{"id": "p*1>"}}}
	for tmpl, want := range map[string]string{
		"out.{key}":                   "out.pump_7",
		"x.{topic}":                   "x.in.a.b",
		"{fields.site.id}.{fields.n}": "p_1_.3",
	} {
		tp, err := address.Parse(tmpl)
		if err != nil {
			t.Fatal(err)
		}
		got, err := tp.Render(m, subjectByte)
		if err != nil || got != want || checkSubject(got) != nil {
			t.Errorf("%q: got %q, %v; want %q", tmpl, got, err, want)
		}
	}
	for _, bad := range []string{"", ".a", "a.", "a..b", "a.*", "a b"} {
		if checkSubject(bad) == nil {
			t.Errorf("subject %q accepted", bad)
		}
	}
}
