package component

import (
	"errors"
	"fmt"
	"strings"

	"github.com/edgeflow/edgeflow/component/schema"
)

// FieldsOption is the `fields:` option of a source whose payloads do not
// say what fields they hold (JSON or CSV from a broker): the user declares
// them, so that `edgeflow validate` type-checks the expressions downstream.
func FieldsOption() Field {
	var types []string
	for _, t := range schema.Declarable {
		types = append(types, "`"+t.String()+"`")
	}
	return Field{Name: "fields", Type: StringMap, Optional: true,
		Example: "{temperature: float, machine: string, ok: bool}",
		Description: "The fields the decoded messages have: name → type (" + strings.Join(types, ", ") +
			"; numbers are always `float`). `edgeflow validate` type-checks the expressions downstream against them, " +
			"and a name not listed there is an error. Without it the fields are unknown and only checked at run time."}
}

// Passthrough is the Spec.Schema of a stage that emits its input messages
// with their fields unchanged (it may drop some).
func Passthrough(_ *Config, in schema.Schema, _ *Resources) (schema.Schema, error) { return in, nil }

// DeclaredSchema returns the schema of a source's decoded messages: the
// `fields:` option (FieldsOption) when given, else decoded, what the codec
// alone says. Fields fixed by the codec cannot be declared otherwise.
func DeclaredSchema(conf *Config, decoded schema.Schema) (schema.Schema, error) {
	if !conf.Given("fields") {
		return decoded, nil
	}
	if decoded.Closed {
		return decoded, conf.Errorf("fields", "the codec always gives %s (%s): declare fields only for the json and csv codecs",
			describe(decoded), decoded.From)
	}
	declared := conf.StringMap("fields")
	out := schema.Schema{Fields: map[string]schema.Type{}, Closed: true, From: "as declared in " + conf.path + ".fields"}
	var errs []error
	for _, name := range conf.Keys("fields") {
		t, err := schema.Parse(declared[name])
		if err != nil {
			errs = append(errs, conf.ErrorfAt("fields", name, "%v", err))
			continue
		}
		out.Fields[name] = t
	}
	if len(errs) > 0 {
		return schema.Unknown(), errors.Join(errs...)
	}
	return out, nil
}

func describe(s schema.Schema) string {
	var parts []string
	for _, n := range s.Names() {
		parts = append(parts, fmt.Sprintf("%s (%s)", n, s.Fields[n]))
	}
	return strings.Join(parts, ", ")
}
