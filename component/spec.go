// Package component describes edgeflow's components: each source, stage and
// sink type registers one Spec, and that spec alone drives how its YAML is
// parsed, defaulted and validated, the reference docs and the JSON Schema.
package component

import (
	"time"

	"github.com/edgeflow/edgeflow/component/schema"
	"github.com/edgeflow/edgeflow/pipeline"
	"github.com/rs/zerolog"
)

// Type is the type of a config field.
type Type int

const (
	String Type = iota
	Int
	Float
	Bool
	Duration   // a Go duration string: "250ms", "1m30s"
	StringList // a list of strings (a single string is accepted as a list of one)
	FloatList  // a list of numbers
	StringMap  // a map of string to string
	Object     // a nested map with its own Fields
	ObjectList // a list of nested maps with the same Fields
	Any        // anything; the component checks it
)

var typeNames = [...]string{
	String: "string", Int: "int", Float: "float", Bool: "bool", Duration: "duration",
	StringList: "list of strings", FloatList: "list of numbers", StringMap: "map of strings",
	Object: "object", ObjectList: "list of objects", Any: "any",
}

func (t Type) String() string { return typeNames[t] }

// Field is one config key of a component.
type Field struct {
	Name        string
	Type        Type
	Description string
	// Default is used when the key is absent. A field with no default and
	// Optional false is required.
	Default any
	// Optional fields may be absent and have no default; Config.Has tells.
	Optional bool
	// Enum lists the allowed values of a String field.
	Enum []string
	// Min and Max bound Int and Float fields when non-nil.
	Min, Max *float64
	// Fields are the keys of an Object or ObjectList field.
	Fields []Field
	// Example is a value shown in the docs.
	Example string
	// Replaces lists keys this field took over from, each with a function
	// that turns the old key's value (its text; "" when not a scalar) into
	// what to write now. Such a key is rejected with that hint instead of
	// a plain "unknown key".
	Replaces map[string]func(old string) string
}

// Required reports whether the field must be given. An Object field that is
// not optional and has no required fields of its own is never required: when
// absent, it is parsed as an empty object, so its fields' defaults apply.
func (f Field) Required() bool {
	if f.Default != nil || f.Optional {
		return false
	}
	if f.Type == Object {
		for _, sub := range f.Fields {
			if sub.Required() {
				return true
			}
		}
		return false
	}
	return true
}

// Spec describes one component type.
type Spec struct {
	Kind        pipeline.Kind
	Name        string // the value of `type:` in YAML
	Summary     string // one line
	Description string // Markdown, may be several paragraphs
	Fields      []Field
	// Example is a YAML snippet showing the component in a pipeline.
	Example string
	// Batching says whether the component handles batches (a
	// BatchProcessor or BatchSink), so that `batch:` is accepted for it.
	Batching bool
	// New builds the component from its parsed config: a pipeline.Source,
	// a pipeline.Processor or BatchProcessor, or a pipeline.Sink.
	New func(conf *Config, res *Resources) (any, error)
	// Schema, if set, says what fields the component's messages have,
	// given those of its input (a source gets an unknown one), and
	// type-checks its expressions against in. `edgeflow validate` calls it
	// in graph order. It may read local files (a replay source samples
	// them) but dials nothing. Without it a source's fields are unknown
	// and a stage's output is unknown. Errors are the component's config
	// errors (conf.Errorf); it is only called on a config that parsed.
	Schema func(conf *Config, in schema.Schema, res *Resources) (schema.Schema, error)
}

// Resources is what a component may use besides its own config.
type Resources struct {
	// Logger is the component's logger, already labelled with its node.
	Logger zerolog.Logger
	// Dir is the directory of the pipeline file; relative paths in a
	// component's config are taken from there.
	Dir string
	// Node is the component's node name.
	Node string
	// Pipeline is the pipeline's name.
	Pipeline string
	// Connections are the pipeline's shared connections by name; use
	// Resources.Connection to look one up.
	Connections map[string]Connection
}

// Min and Max helpers for Field bounds.
func Bound(v float64) *float64 { return &v }

// Dur is a helper for Duration defaults.
func Dur(s string) time.Duration {
	d, err := time.ParseDuration(s)
	if err != nil {
		panic(err)
	}
	return d
}
