package component

import (
	"context"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

var testFields = []Field{
	{Name: "url", Type: String},
	{Name: "qos", Type: Int, Default: 1, Min: Bound(0), Max: Bound(2)},
	{Name: "ratio", Type: Float, Default: 0.5},
	{Name: "retain", Type: Bool, Default: false},
	{Name: "every", Type: Duration, Default: "1s"},
	{Name: "mode", Type: String, Default: "fast", Enum: []string{"fast", "safe"}},
	{Name: "topics", Type: StringList, Optional: true},
	{Name: "tls", Type: Object, Optional: true, Fields: []Field{{Name: "ca_file", Type: String}}},
}

func parseYAML(t *testing.T, src string) (*Config, []error) {
	t.Helper()
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(src), &doc); err != nil {
		t.Fatal(err)
	}
	return Parse(testFields, doc.Content[0], "p.yaml", "sinks.out", map[string]bool{"type": true})
}

func TestParseAppliesDefaultsAndTypes(t *testing.T) {
	c, errs := parseYAML(t, "type: x\nurl: tcp://b:1883\ntopics: a/b\ntls: {ca_file: ca.pem}\n")
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	if c.String("url") != "tcp://b:1883" || c.Int("qos") != 1 || c.Float("ratio") != 0.5 ||
		c.Duration("every") != time.Second || c.String("mode") != "fast" || c.Bool("retain") {
		t.Fatalf("values or defaults wrong: %+v", c.values)
	}
	if got := c.StringList("topics"); len(got) != 1 || got[0] != "a/b" {
		t.Fatalf("a single string is a list of one: %v", got)
	}
	if c.Object("tls").String("ca_file") != "ca.pem" || !c.Given("tls") || c.Given("qos") || !c.Has("qos") {
		t.Fatal("nested object or Given/Has wrong")
	}
}

func TestParseReportsEveryProblemWithItsPlace(t *testing.T) {
	_, errs := parseYAML(t, `type: x
qos: 3
ratio: lots
every: 10
mode: slow
retian: true
tls: {ca_file: [a]}
`)
	want := []string{
		`p.yaml:1:1: sinks.out: missing required key "url" (string)`,
		`p.yaml:2:6: sinks.out.qos: 3 is above the maximum 2`,
		`p.yaml:3:8: sinks.out.ratio: want a number, got the string "lots"`,
		`p.yaml:4:8: sinks.out.every: bad duration "10" (want a number with a unit: 500ms, 10s, 1m30s)`,
		`p.yaml:5:7: sinks.out.mode: "slow" is not one of fast, safe`,
		`p.yaml:6:1: sinks.out.retian: unknown key (did you mean "retain"?)`,
		`p.yaml:7:16: sinks.out.tls.ca_file: want a string, got a list`,
	}
	var got []string
	for _, e := range errs {
		got = append(got, e.Error())
	}
	joined := strings.Join(got, "\n")
	for _, w := range want {
		if !strings.Contains(joined, w) {
			t.Errorf("missing %q in:\n%s", w, joined)
		}
	}
	if len(errs) != len(want) {
		t.Errorf("%d errors, want %d:\n%s", len(errs), len(want), joined)
	}
}

func TestErrorfPointsAtTheField(t *testing.T) {
	c, errs := parseYAML(t, "type: x\nurl:  nowhere\n")
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	err := c.Errorf("url", "cannot resolve %q", "nowhere")
	if err.Error() != `p.yaml:2:7: sinks.out.url: cannot resolve "nowhere"` {
		t.Fatalf("got %q", err)
	}
	// A field that was not written points at the component.
	if err := c.Errorf("qos", "bad"); !strings.HasPrefix(err.Error(), "p.yaml:1:1: sinks.out.qos") {
		t.Fatalf("got %q", err)
	}
}

type fakeConn struct{}

func (fakeConn) Close(context.Context) error { return nil }

type otherConn struct{}

func (otherConn) Close(context.Context) error { return nil }

func TestConnectionAs(t *testing.T) {
	fields := []Field{{Name: "connection", Type: String}}
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte("connection: plant"), &doc); err != nil {
		t.Fatal(err)
	}
	conf, _ := Parse(fields, doc.Content[0], "p.yaml", "sources.in", nil)

	res := &Resources{Connections: map[string]Connection{"plant": fakeConn{}}}
	if _, err := ConnectionAs[fakeConn](conf, res, "connection", "fake"); err != nil {
		t.Fatal(err)
	}
	_, err := ConnectionAs[otherConn](conf, res, "connection", "other")
	if err == nil || err.Error() != `p.yaml:1:13: sources.in.connection: connection "plant" is not a other connection` {
		t.Fatalf("wrong type: %v", err)
	}
	res = &Resources{Connections: map[string]Connection{"plan": fakeConn{}}}
	_, err = ConnectionAs[fakeConn](conf, res, "connection", "fake")
	if err == nil || !strings.Contains(err.Error(), `no connection named "plant" (did you mean "plan"?)`) {
		t.Fatalf("unknown name: %v", err)
	}
}

func TestRegisterRejectsBadSpecs(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("a spec whose default does not fit its type was accepted")
		}
	}()
	Register(Spec{Name: "test_bad_default", New: func(*Config, *Resources) (any, error) { return nil, nil },
		Fields: []Field{{Name: "n", Type: Int, Default: "three"}}})
}

// A key that a field replaced is rejected with the field's hint, computed
// from the old value.
func TestParseReplacedKey(t *testing.T) {
	fields := []Field{{Name: "key", Type: Object, Optional: true, Fields: []Field{{Name: "token", Type: Int}},
		Replaces: map[string]func(string) string{"key_level": func(v string) string { return "write key: {token: " + v + "1}" }}}}
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte("a: 1\nkey_level: 2"), &doc); err != nil {
		t.Fatal(err)
	}
	_, errs := Parse(fields, doc.Content[0], "p.yaml", "sources.s", nil)
	if len(errs) != 2 || !strings.Contains(errs[0].Error(), "p.yaml:1:1: sources.s.a: unknown key") ||
		errs[1].Error() != "p.yaml:2:1: sources.s.key_level: key_level is no longer accepted: write key: {token: 21}" {
		t.Fatalf("errors %v", errs)
	}
}

// An object that is not optional and has no required fields is never
// required: absent, it holds its fields' defaults.
func TestParseAbsentObjectGetsDefaults(t *testing.T) {
	obj := Field{Name: "time", Type: Object, Fields: []Field{{Name: "field", Type: String, Default: "ts"}}}
	req := Field{Name: "must", Type: Object, Fields: []Field{{Name: "x", Type: String}}}
	if obj.Required() || !req.Required() {
		t.Fatalf("required: %v %v", obj.Required(), req.Required())
	}
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte("must: {x: y}"), &doc); err != nil {
		t.Fatal(err)
	}
	c, errs := Parse([]Field{obj, req}, doc.Content[0], "p.yaml", "s", nil)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	if o := c.Object("time"); o == nil || o.String("field") != "ts" || o.Given("field") || c.Given("time") {
		t.Fatalf("absent object: %+v", o)
	}
	if _, errs := Parse([]Field{obj, req}, &yaml.Node{Kind: yaml.MappingNode}, "p.yaml", "s", nil); len(errs) != 1 ||
		!strings.Contains(errs[0].Error(), `missing required key "must"`) {
		t.Fatalf("errors %v", errs)
	}
}
