// Package reference generates edgeflow's configuration reference from the
// registered component specs: a Markdown document (docs/components.md) and a
// JSON Schema of the pipeline file (docs/edgeflow.schema.json).
//
// Both are derived from the same specs that parse and validate pipeline
// files, so the docs cannot drift from the code; a test fails when the
// committed copies are stale (`make docs` regenerates them).
package reference

//go:generate go run ../../cmd/edgeflow components --format markdown --output ../../docs/components.md
//go:generate go run ../../cmd/edgeflow components --format json-schema --output ../../docs/edgeflow.schema.json

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/edgeflow/edgeflow/component"
	"github.com/edgeflow/edgeflow/pipeline"
)

// Kinds are the component kinds in the order the reference lists them.
var Kinds = []pipeline.Kind{pipeline.KindSource, pipeline.KindStage, pipeline.KindSink}

// KindTitle returns the plural heading of a kind: Sources, Stages, Sinks.
func KindTitle(k pipeline.Kind) string {
	switch k {
	case pipeline.KindSource:
		return "Sources"
	case pipeline.KindStage:
		return "Stages"
	default:
		return "Sinks"
	}
}

// Section returns the top-level key of a kind's nodes: sources, stages,
// sinks.
func Section(k pipeline.Kind) string { return strings.ToLower(KindTitle(k)) }

// KindOf parses a kind written as in YAML (sources) or singular (source).
func KindOf(s string) (pipeline.Kind, bool) {
	for _, k := range Kinds {
		if Section(k) == s || k.String() == s {
			return k, true
		}
	}
	return 0, false
}

// Find returns the registered specs called name, of any kind, in kind
// order. A name may be qualified as kind/name (source/mqtt) to pick one.
func Find(name string) []*component.Spec {
	kinds := Kinds
	if k, n, ok := strings.Cut(name, "/"); ok {
		kinds = nil
		if kind, ok := KindOf(k); ok {
			kinds = []pipeline.Kind{kind}
		}
		name = n
	}
	var out []*component.Spec
	for _, k := range kinds {
		if s, ok := component.Lookup(k, name); ok {
			out = append(out, s)
		}
	}
	return out
}

// row is one field of a flattened field table: nested object fields get
// dotted names (batch.max_size), fields of list items get name[].field.
type row struct {
	key string
	f   component.Field
}

func flatten(prefix string, fields []component.Field) []row {
	var rows []row
	for _, f := range fields {
		key := prefix + f.Name
		rows = append(rows, row{key, f})
		switch f.Type {
		case component.Object:
			rows = append(rows, flatten(key+".", f.Fields)...)
		case component.ObjectList:
			rows = append(rows, flatten(key+"[].", f.Fields)...)
		}
	}
	return rows
}

// formatDefault renders a field's default as it would be written in YAML.
func formatDefault(f component.Field) string {
	switch d := f.Default.(type) {
	case nil:
		return ""
	case time.Duration:
		return d.String()
	case string:
		if f.Type == component.String {
			return fmt.Sprintf("%q", d)
		}
		return d
	case []string, []float64, map[string]string:
		b, err := json.Marshal(d)
		if err != nil {
			return fmt.Sprint(d)
		}
		return string(b)
	default:
		return fmt.Sprint(d)
	}
}

// jsonDefault converts a field's default to the value the JSON Schema
// shows, or nil when there is none.
func jsonDefault(f component.Field) any {
	switch d := f.Default.(type) {
	case nil:
		return nil
	case time.Duration:
		return d.String()
	case string:
		if f.Type == component.Duration {
			if p, err := time.ParseDuration(d); err == nil {
				return p.String()
			}
		}
		return d
	case int:
		if f.Type == component.Float {
			return float64(d)
		}
		return d
	default:
		return d
	}
}

// constraints lists a field's enum and bounds in words.
func constraints(f component.Field) []string {
	var out []string
	if len(f.Enum) > 0 {
		quoted := make([]string, len(f.Enum))
		for i, e := range f.Enum {
			quoted[i] = "`" + e + "`"
		}
		out = append(out, "one of "+strings.Join(quoted, ", "))
	}
	if f.Min != nil {
		out = append(out, "min "+strconv.FormatFloat(*f.Min, 'f', -1, 64))
	}
	if f.Max != nil {
		out = append(out, "max "+strconv.FormatFloat(*f.Max, 'f', -1, 64))
	}
	return out
}

// withoutField returns fields less the one called name.
func withoutField(fields []component.Field, name string) []component.Field {
	return slices.DeleteFunc(slices.Clone(fields), func(f component.Field) bool { return f.Name == name })
}
