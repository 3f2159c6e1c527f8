package config_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/edgeflow/edgeflow/component"
	"github.com/edgeflow/edgeflow/component/schema"
	"github.com/edgeflow/edgeflow/config"
	"github.com/edgeflow/edgeflow/pipeline"
	"github.com/rs/zerolog"
)

// Stages whose Schema the tests control: one that needs a field (and
// reports it missing from a closed input) and may add one, and one whose
// Schema panics.
func init() {
	newStage := func(*component.Config, *component.Resources) (any, error) { return &testScale{factor: 1}, nil }
	component.Register(component.Spec{Kind: pipeline.KindStage, Name: "test_fields_need", New: newStage,
		Fields: []component.Field{
			{Name: "need", Type: component.String},
			{Name: "add", Type: component.String, Optional: true},
			{Name: "as", Type: component.String, Default: "bool"},
		},
		Schema: func(conf *component.Config, in schema.Schema, _ *component.Resources) (schema.Schema, error) {
			if _, ok := in.Lookup(conf.String("need")); !ok && in.Closed {
				return in, conf.Errorf("need", "no field %q", conf.String("need"))
			}
			if conf.Has("add") {
				t, err := schema.Parse(conf.String("as"))
				if err != nil {
					return in, conf.Errorf("as", "%v", err)
				}
				in = in.With(conf.String("add"), t)
			}
			return in, nil
		}})
	component.Register(component.Spec{Kind: pipeline.KindStage, Name: "test_fields_panic", New: newStage,
		Schema: func(*component.Config, schema.Schema, *component.Resources) (schema.Schema, error) { panic("boom") }})
}

// Schemas flow along the graph in dependency order (a stage written before
// its input included), and every problem is reported, each at its place,
// next to the other kinds of problems. A node that did not parse, or whose
// Schema failed, makes no error downstream.
func TestCheckFieldsReportsAll(t *testing.T) {
	path := filepath.Join(t.TempDir(), "p.yaml")
	err := os.WriteFile(path, []byte(`sources:
  gen: {type: test_gen}
  dunno: {type: test_gen, id: unknown}
stages:
  late: {type: test_fields_need, input: early, need: flag}
  early: {type: test_fields_need, input: gen, need: value, add: flag}
  missing: {type: test_fields_need, input: gen, need: c}
  open: {type: test_fields_need, input: [gen, dunno], need: zz}
  boom: {type: test_fields_panic, input: gen}
  after_boom: {type: test_fields_need, input: boom, need: zz}
  broken: {type: test_fields_need, input: gen, need: c, bogus: 1}
  after_broken: {type: test_fields_need, input: broken, need: zz}
sinks:
  out: {type: test_collect, into: fields, input: [late, missing, open, after_boom, after_broken]}
`), 0o644)
	if err != nil {
		t.Fatal(err)
	}
	err = config.Check(path, zerolog.Nop())
	if err == nil {
		t.Fatal("Check found nothing")
	}
	got := strings.ReplaceAll(err.Error(), path, "p.yaml")
	want := strings.Join([]string{
		`p.yaml:7:55: stages.missing.need: no field "c"`,
		`p.yaml:9:3: stages.boom: checking fields panicked: boom`,
		`p.yaml:11:57: stages.broken.bogus: unknown key`,
	}, "\n")
	if got != want {
		t.Errorf("Check =\n%s\nwant\n%s", got, want)
	}
}

func TestCheckFieldsMergesFanIn(t *testing.T) {
	f, err := config.Parse([]byte(`sources:
  gen: {type: test_gen}
  dunno: {type: test_gen, id: unknown}
stages:
  flag_bool: {type: test_fields_need, input: gen, need: value, add: flag}
  flag_text: {type: test_fields_need, input: gen, need: value, add: flag, as: string}
  note: {type: test_fields_need, input: gen, need: value, add: note, as: string}
  merged: {type: test_fields_need, input: [flag_bool, flag_text, note], need: value}
  open: {type: test_fields_need, input: [note, dunno], need: zz}
sinks:
  out: {type: test_collect, into: fields, input: [merged, open]}
`), "p.yaml")
	if err != nil {
		t.Fatal(err)
	}
	schemas, errs := f.CheckFields(zerolog.Nop())
	if len(errs) > 0 {
		t.Fatal(errors.Join(errs...))
	}
	m := schemas["merged"]
	if !m.Closed || m.Fields["value"] != schema.Float || m.Fields["flag"] != schema.Any || m.Fields["note"] != schema.String {
		t.Errorf("merged = %+v: want closed, value float, flag any (bool and string), note string (missing from some inputs)", m)
	}
	o := schemas["open"]
	if o.Closed || o.Fields["value"] != schema.Any || o.Fields["note"] != schema.Any {
		t.Errorf("open = %+v: want open, value and note any (the unknown input may have them of another type)", o)
	}
	if _, ok := schemas["out"]; ok {
		t.Error("a sink has a schema")
	}
}
