package onnx

import (
	"errors"
	"strings"

	"github.com/edgeflow/edgeflow/component"
	"github.com/edgeflow/edgeflow/component/schema"
	"github.com/edgeflow/edgeflow/internal/didyoumean"
)

// stageSchema checks that the fields feeding the model can hold a tensor,
// and returns the input's fields plus each output and its shape (and,
// when it learns, the field with the model version). Without
// `outputs` the output names are the model's, unknown until it loads, so
// the fields after the stage are open.
func stageSchema(conf *component.Config, in schema.Schema, _ *component.Resources) (schema.Schema, error) {
	var errs []error
	inputs := conf.StringMap("inputs")
	for _, name := range conf.Keys("inputs") {
		field := inputs[name]
		t, ok := in.Lookup(field)
		switch {
		case !ok && in.Closed:
			errs = append(errs, conf.ErrorfAt("inputs", name, "no field %q in the input%s (the input has %s)",
				field, didyoumean.Suggest(field, in.Names()), strings.Join(in.Names(), ", ")))
		case ok && t != schema.Floats && t != schema.List && t != schema.Any:
			errs = append(errs, conf.ErrorfAt("inputs", name, "field %q is a %s, not a tensor (floats or a list of numbers)", field, t))
		}
	}
	out := in
	if conf.Has("learn") && conf.Object("learn").Int("every") > 0 {
		out = out.With(conf.Object("learn").String("field"), schema.Int)
	}
	if !conf.Has("outputs") {
		out.Closed = false
		return out, errors.Join(errs...)
	}
	outputs := conf.StringMap("outputs")
	for _, name := range conf.Keys("outputs") {
		out = out.With(outputs[name], schema.Floats).With(outputs[name]+conf.String("shape_suffix"), schema.Shape)
	}
	return out, errors.Join(errs...)
}
