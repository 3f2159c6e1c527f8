package onnx

import (
	"strings"
	"testing"

	"github.com/edgeflow/edgeflow/component"
	"github.com/edgeflow/edgeflow/component/schema"
	"github.com/edgeflow/edgeflow/pipeline"
	"github.com/rs/zerolog"
	"go.yaml.in/yaml/v3"
)

func schemaOf(t *testing.T, cfg string, in schema.Schema) (schema.Schema, error) {
	t.Helper()
	spec, _ := component.Lookup(pipeline.KindStage, "onnx")
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(cfg), &doc); err != nil {
		t.Fatal(err)
	}
	conf, errs := component.Parse(spec.Fields, doc.Content[0], "p.yaml", "stages.model", nil)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	return spec.Schema(conf, in, &component.Resources{Logger: zerolog.Nop(), Node: "model"})
}

var windows = schema.Schema{Closed: true, Fields: map[string]schema.Type{"window_norm": schema.Floats, "key": schema.String}}

func TestSchema(t *testing.T) {
	s, err := schemaOf(t, "model: m.onnx\ninputs: {x: window_norm}\noutputs: {y: reconstruction}", windows)
	if err != nil {
		t.Fatal(err)
	}
	if !s.Closed || s.Fields["reconstruction"] != schema.Floats || s.Fields["reconstruction_shape"] != schema.Shape ||
		s.Fields["window_norm"] != schema.Floats || len(s.Fields) != 4 {
		t.Errorf("with outputs: %+v", s)
	}
	// Learning adds the version of the model that scored the message.
	s, err = schemaOf(t, "model: m.onnx\ninputs: {x: window_norm}\noutputs: {y: reconstruction}\nlearn: {every: 100}", windows)
	if err != nil || s.Fields["learn_version"] != schema.Int || len(s.Fields) != 5 {
		t.Errorf("with learn: %+v, %v", s, err)
	}
	// The model names its outputs: open after the stage.
	if s, err := schemaOf(t, "model: m.onnx\ninputs: {x: window_norm}", windows); err != nil || s.Closed || s.Fields["window_norm"] != schema.Floats {
		t.Errorf("without outputs: %+v, %v", s, err)
	}
	_, err = schemaOf(t, "model: m.onnx\ninputs: {x: window_nrom, k: key}", windows)
	for _, want := range []string{
		`p.yaml:2:13: stages.model.inputs.x: no field "window_nrom" in the input (did you mean "window_norm"?)`,
		`p.yaml:2:29: stages.model.inputs.k: field "key" is a string, not a tensor`,
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("errors %v lack %q", err, want)
		}
	}
	if _, err := schemaOf(t, "model: m.onnx\ninputs: {x: anything}", schema.Unknown()); err != nil {
		t.Errorf("unknown input fields: %v", err)
	}
}
