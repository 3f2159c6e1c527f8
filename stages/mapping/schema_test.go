package mapping

import (
	"strings"
	"testing"

	"github.com/edgeflow/edgeflow/component"
	"github.com/edgeflow/edgeflow/component/schema"
	"github.com/edgeflow/edgeflow/pipeline"
	"github.com/rs/zerolog"
	"go.yaml.in/yaml/v3"
)

func mapSchemaOf(t *testing.T, cfg string, in schema.Schema) (schema.Schema, error) {
	t.Helper()
	spec, _ := component.Lookup(pipeline.KindStage, "map")
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(cfg), &doc); err != nil {
		t.Fatal(err)
	}
	conf, errs := component.Parse(spec.Fields, doc.Content[0], "p.yaml", "stages.m", nil)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	return spec.Schema(conf, in, &component.Resources{Logger: zerolog.Nop(), Node: "m"})
}

var readingFields = schema.Schema{Closed: true, Fields: map[string]schema.Type{"value": schema.Float, "sensor": schema.String}}

// Set fields take their expression's type, each seen by the next; delete
// removes; the output is as closed as the input.
func TestMapSchema(t *testing.T) {
	s, err := mapSchemaOf(t, `
set:
  celsius: value
  hot: celsius > 30
  label: 'sensor + "/" + string(celsius)'
  n: len(sensor)
key: label
delete: [value]
`, readingFields)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]schema.Type{"celsius": schema.Float, "hot": schema.Bool, "label": schema.String, "n": schema.Int, "sensor": schema.String}
	if !s.Closed || len(s.Fields) != len(want) {
		t.Fatalf("got %+v, want %v", s, want)
	}
	for name, typ := range want {
		if s.Fields[name] != typ {
			t.Errorf("%s: %s, want %s", name, s.Fields[name], typ)
		}
	}
	// Unknown input: nothing to report, the set fields still known.
	s, err = mapSchemaOf(t, "set: {hot: tempreature > 3}\ndelete: [whatever]", schema.Unknown())
	if err != nil || s.Closed || s.Fields["hot"] != schema.Bool {
		t.Errorf("unknown input: %+v, %v", s, err)
	}
}

// Every problem is reported, not the first only; a syntax error is left to
// the constructor (which reports it) rather than said twice.
func TestMapSchemaReportsAll(t *testing.T) {
	_, err := mapSchemaOf(t, `
set:
  a: valeu * 2
  b: value +
  c: upper(value)
key: '{"k": 1}'
delete: [sensr]
`, readingFields)
	if err == nil {
		t.Fatal("no error")
	}
	got := err.Error()
	for _, want := range []string{
		`p.yaml:3:6: stages.m.set.a: expression "valeu * 2": no field "valeu" (did you mean "value"?)`,
		`p.yaml:5:12: stages.m.set.c: expression "upper(value)": cannot use float as argument`,
		`p.yaml:6:6: stages.m.key: expression "{\"k\": 1}" produces an object, want a string`,
		`p.yaml:7:9: stages.m.delete: no field "sensr" to delete (did you mean "sensor"?)`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("errors lack %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "set.b") {
		t.Errorf("the syntax error is reported here too:\n%s", got)
	}
}
