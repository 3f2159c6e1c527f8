package reference

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/edgeflow/edgeflow/component"
	"github.com/edgeflow/edgeflow/config"
	"github.com/edgeflow/edgeflow/pipeline"
)

// SchemaID is the $id of the generated schema.
const SchemaID = "https://github.com/edgeflow/edgeflow/blob/main/docs/edgeflow.schema.json"

// DurationPattern matches what time.ParseDuration accepts without a sign
// (edgeflow rejects negative durations): 250ms, 1m30s, 1.5h, 0.
const DurationPattern = `^(0|(([0-9]+(\.[0-9]*)?|\.[0-9]+)(ns|us|µs|μs|ms|s|m|h))+)$`

// EnvPattern matches a value that holds a ${VAR} or ${VAR:-default}
// reference. Such a value is only known once expanded, so the schema
// accepts it wherever a number, boolean, duration or enum is expected.
const EnvPattern = `\$\{[A-Za-z_][A-Za-z0-9_]*(:-[^}]*)?\}`

type obj = map[string]any

// Schema returns the JSON Schema (draft 2020-12) of a pipeline file, built
// from the registered component specs, as indented JSON.
func Schema() ([]byte, error) {
	defs := obj{
		"duration": obj{
			"description": "A duration: a number with a unit (ns, us, ms, s, m, h), e.g. 250ms or 1m30s.",
			"anyOf": []any{
				obj{"type": "string", "pattern": DurationPattern},
				obj{"const": 0},
			},
		},
		"env": obj{
			"description": "A value read from the environment when the file is loaded.",
			"type":        "string",
			"pattern":     EnvPattern,
		},
	}

	props := obj{}
	for _, f := range config.TopLevelFields() {
		props[f.Name] = fieldSchema(f)
	}
	sectionSchema := func(desc, ref string) obj {
		return obj{
			"description":          desc,
			"type":                 "object",
			"additionalProperties": obj{"$ref": "#/$defs/" + ref},
		}
	}
	for _, k := range Kinds {
		name := Section(k)
		defs[k.String()] = nodeSchema(k, component.All(k), defs, k.String(), false)
		props[name] = sectionSchema(description(props[name]), k.String())
	}
	defs["dead_letter"] = nodeSchema(pipeline.KindSink, component.All(pipeline.KindSink), defs, "dead_letter", true)
	props["dead_letter"] = obj{"$ref": "#/$defs/dead_letter", "description": description(props["dead_letter"])}
	defs["connection"] = connectionSchema(component.AllConnections(), defs)
	props["connections"] = sectionSchema(description(props["connections"]), "connection")

	schema := obj{
		"$schema":              "https://json-schema.org/draft/2020-12/schema",
		"$id":                  SchemaID,
		"title":                "edgeflow pipeline",
		"description":          "A pipeline file for edgeflow. Generated from the component specs by `make docs`; do not edit.",
		"type":                 "object",
		"properties":           props,
		"additionalProperties": false,
		"$defs":                defs,
	}
	out, err := json.MarshalIndent(schema, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("reference: encode schema: %w", err)
	}
	return append(out, '\n'), nil
}

func description(s any) string {
	if o, ok := s.(obj); ok {
		d, _ := o["description"].(string)
		return d
	}
	return ""
}

// nodeSchema describes one node of a kind: a `type:` naming one of specs,
// then, by if/then on that type, the schema of that type (added to defs as
// "<prefix>.<name>"), which holds the common node keys and the type's own.
func nodeSchema(kind pipeline.Kind, specs []*component.Spec, defs obj, prefix string, deadLetter bool) obj {
	names := make([]any, 0, len(specs))
	var branches []any
	for _, s := range specs {
		names = append(names, s.Name)
		common := config.NodeFields(kind, s.Batching)
		if deadLetter {
			common = withoutField(common, "input")
		}
		ref := prefix + "." + s.Name
		defs[ref] = objectSchema(append(common, s.Fields...), obj{"const": s.Name}, s.Summary)
		branches = append(branches, obj{
			"if":   obj{"properties": obj{"type": obj{"const": s.Name}}, "required": []any{"type"}},
			"then": obj{"$ref": "#/$defs/" + ref},
		})
	}
	typ := obj{"type": "string", "description": fmt.Sprintf("The %s type.", kind)}
	if len(names) > 0 {
		typ["enum"] = names
	}
	out := obj{
		"type":       "object",
		"required":   []any{"type"},
		"properties": obj{"type": typ},
	}
	if deadLetter {
		out["description"] = "The dead-letter sink: a sink type and its options, without input."
	}
	if len(branches) > 0 {
		out["allOf"] = branches
	}
	return out
}

func connectionSchema(specs []*component.ConnectionSpec, defs obj) obj {
	names := make([]any, 0, len(specs))
	var branches []any
	typeField := component.Field{Name: "type", Type: component.String, Description: "The connection type."}
	for _, s := range specs {
		names = append(names, s.Name)
		ref := "connection." + s.Name
		defs[ref] = objectSchema(append([]component.Field{typeField}, s.Fields...), obj{"const": s.Name}, s.Summary)
		branches = append(branches, obj{
			"if":   obj{"properties": obj{"type": obj{"const": s.Name}}, "required": []any{"type"}},
			"then": obj{"$ref": "#/$defs/" + ref},
		})
	}
	typ := obj{"type": "string", "description": "The connection type."}
	if len(names) > 0 {
		typ["enum"] = names
	}
	out := obj{"type": "object", "required": []any{"type"}, "properties": obj{"type": typ}}
	if len(branches) > 0 {
		out["allOf"] = branches
	}
	return out
}

// objectSchema describes a mapping with exactly the given fields. typ, when
// non-nil, replaces the schema of the `type` field (a const per component).
func objectSchema(fields []component.Field, typ obj, desc string) obj {
	props := obj{}
	var required []any
	for _, f := range fields {
		if f.Name == "type" && typ != nil {
			props["type"] = typ
		} else {
			props[f.Name] = fieldSchema(f)
		}
		if f.Required() {
			required = append(required, f.Name)
		}
	}
	out := obj{"type": "object", "properties": props, "additionalProperties": false}
	if len(required) > 0 {
		out["required"] = required
	}
	if desc != "" {
		out["description"] = desc
	}
	return out
}

var envRef = obj{"$ref": "#/$defs/env"}

// fieldSchema describes one field's value.
func fieldSchema(f component.Field) obj {
	var s obj
	switch f.Type {
	case component.String:
		s = obj{"type": "string"}
		if len(f.Enum) > 0 {
			enum := make([]any, len(f.Enum))
			for i, e := range f.Enum {
				enum[i] = e
			}
			s = obj{"anyOf": []any{obj{"enum": enum}, envRef}}
		}
	case component.Int:
		s = withEnv(bounds(obj{"type": "integer"}, f))
	case component.Float:
		s = withEnv(bounds(obj{"type": "number"}, f))
	case component.Bool:
		s = withEnv(obj{"type": "boolean"})
	case component.Duration:
		s = withEnv(obj{"$ref": "#/$defs/duration"})
	case component.StringList:
		s = obj{"anyOf": []any{
			obj{"type": "string"},
			obj{"type": "array", "items": obj{"type": "string"}},
		}}
	case component.FloatList:
		s = obj{"type": "array", "items": withEnv(obj{"type": "number"})}
	case component.StringMap:
		s = obj{"type": "object", "additionalProperties": obj{"type": []any{"string", "number", "boolean"}}}
	case component.Object:
		s = objectSchema(f.Fields, nil, "")
	case component.ObjectList:
		s = obj{"type": "array", "items": objectSchema(f.Fields, nil, "")}
	default: // Any: the component checks it
		s = obj{}
	}
	desc := f.Description
	if f.Required() {
		desc = strings.TrimSpace(desc + " Required.")
	}
	if desc != "" {
		s["description"] = desc
	}
	if d := jsonDefault(f); d != nil {
		s["default"] = d
	}
	if f.Example != "" && f.Type == component.String {
		s["examples"] = []any{f.Example}
	}
	return s
}

func withEnv(s obj) obj { return obj{"anyOf": []any{s, envRef}} }

func bounds(s obj, f component.Field) obj {
	if f.Min != nil {
		s["minimum"] = *f.Min
	}
	if f.Max != nil {
		s["maximum"] = *f.Max
	}
	return s
}
