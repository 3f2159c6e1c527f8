// Package mapping is the `map` stage: it sets, computes and deletes fields
// and re-keys messages with expressions.
package mapping

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/edgeflow/edgeflow/component"
	"github.com/edgeflow/edgeflow/component/schema"
	"github.com/edgeflow/edgeflow/internal/didyoumean"
	"github.com/edgeflow/edgeflow/internal/expression"
	"github.com/edgeflow/edgeflow/pipeline"
)

func init() {
	component.Register(component.Spec{
		Kind:    pipeline.KindStage,
		Name:    "map",
		Summary: "Compute, set and delete fields, or re-key messages, with expressions.",
		Description: `Changes each message in place using [expr](https://expr-lang.org) expressions.
An expression sees the message's fields at the top level plus ` + "`key`, `topic`, `meta`, `source_time`, `ingest_time`" + `
and ` + "`fields`" + ` (all fields as a map, for names that are not identifiers).

The steps run in this order: every ` + "`set`" + ` entry in the order written (each
sees the fields set before it), then ` + "`key`" + `, then ` + "`delete`" + `.
Expressions are compiled when the pipeline is built, so a syntax error is a
config error that points at the expression. ` + "`edgeflow validate`" + ` also checks them against
the fields the messages will have (those the source declares or samples, as the stages
before leave them): a field that is not there, or used with the wrong type, is reported
there too (see docs/expressions.md). Each set field then has the type of its expression.

A runtime error (a missing field in arithmetic, a type mismatch) sends the
message to the dead-letter sink, as far as it had been changed.`,
		Fields: []component.Field{
			{Name: "set", Type: component.StringMap, Optional: true,
				Description: "Fields to set: field name → expression. Evaluated in the order written.",
				Example:     "{fahrenheit: value * 1.8 + 32, hot: value > 30}"},
			{Name: "key", Type: component.String, Optional: true,
				Description: "Expression for a new message key (a string; numbers are formatted).",
				Example:     `sensor + "/" + meta.line`},
			{Name: "delete", Type: component.StringList, Optional: true,
				Description: "Fields to remove, after `set` and `key`."},
		},
		Example: `stages:
  to_fahrenheit:
    type: map
    input: sensors
    set:
      celsius: value
      value: celsius * 1.8 + 32
      unit: '"F"'
    key: '"plant1/" + sensor'
    delete: [celsius]`,
		New:    newMap,
		Schema: mapSchema,
	})
}

// mapSchema type-checks the expressions, each against the fields as the
// steps before it left them, and returns the fields the stage emits: set
// fields get their expression's result type, deleted ones go.
func mapSchema(conf *component.Config, in schema.Schema, _ *component.Resources) (schema.Schema, error) {
	var errs []error
	out := in
	exprs := conf.StringMap("set")
	for _, field := range conf.Keys("set") {
		t := schema.Any
		if _, err := expression.Compile(exprs[field]); err == nil && !expression.Reserved(field) {
			if t, err = expression.Check(exprs[field], out); err != nil {
				errs = append(errs, conf.TextError("set", field, err))
			}
		}
		out = out.With(field, t)
	}
	if src := conf.String("key"); conf.Has("key") {
		if _, err := expression.Compile(src); err == nil {
			t, err := expression.Check(src, out)
			switch {
			case err != nil:
				errs = append(errs, conf.TextError("key", "", err))
			case t != schema.Any && t != schema.String && t != schema.Float && t != schema.Int && t != schema.Bool:
				errs = append(errs, conf.Errorf("key", "expression %q produces %s, want a string (or a number or bool, formatted)", src, article(t)))
			}
		}
	}
	for _, f := range conf.StringList("delete") {
		if _, ok := out.Lookup(f); !ok && out.Closed && !expression.Reserved(f) {
			errs = append(errs, conf.Errorf("delete", "no field %q to delete%s", f, didyoumean.Suggest(f, out.Names())))
		}
		out = out.Without(f)
	}
	return out, errors.Join(errs...)
}

type assignment struct {
	field string
	prog  *expression.Program
}

// Map is the map stage. It is safe for concurrent use.
type Map struct {
	set    []assignment
	key    *expression.Program
	delete []string
}

func newMap(conf *component.Config, _ *component.Resources) (any, error) {
	s := &Map{}
	if !conf.Has("set") && !conf.Has("key") && !conf.Has("delete") {
		return nil, conf.Errorf("", "a map stage needs at least one of set, key or delete")
	}
	exprs := conf.StringMap("set")
	for _, field := range conf.Keys("set") {
		if expression.Reserved(field) {
			return nil, conf.ErrorfAt("set", field, "%q is reserved for the message itself (reserved: %s); use `key:` to re-key",
				field, strings.Join(expression.ReservedNames(), ", "))
		}
		prog, err := expression.Compile(exprs[field])
		if err != nil {
			return nil, conf.ErrorfAt("set", field, "%v", err)
		}
		s.set = append(s.set, assignment{field, prog})
	}
	if conf.Has("key") {
		prog, err := expression.Compile(conf.String("key"))
		if err != nil {
			return nil, conf.Errorf("key", "%v", err)
		}
		s.key = prog
	}
	for _, f := range conf.StringList("delete") {
		if expression.Reserved(f) {
			return nil, conf.Errorf("delete", "%q is not a field but part of the message itself", f)
		}
	}
	s.delete = conf.StringList("delete")
	return s, nil
}

// Process implements pipeline.Processor.
func (s *Map) Process(_ context.Context, m *pipeline.Message, out pipeline.Emitter) error {
	for _, a := range s.set {
		v, err := a.prog.Eval(m)
		if err != nil {
			return fmt.Errorf("set %s: %w", a.field, err)
		}
		if m.Fields == nil {
			m.Fields = make(map[string]any, len(s.set))
		}
		m.Fields[a.field] = v
	}
	if s.key != nil {
		v, err := s.key.Eval(m)
		if err != nil {
			return fmt.Errorf("key: %w", err)
		}
		k, err := keyString(v)
		if err != nil {
			return fmt.Errorf("key: expression %q: %w", s.key, err)
		}
		m.Key = k
	}
	for _, f := range s.delete {
		delete(m.Fields, f)
	}
	out.Emit(m)
	return nil
}

// article is t with its indefinite article: "a list", "an object".
func article(t schema.Type) string {
	if strings.ContainsRune("aeiou", rune(t.String()[0])) {
		return "an " + t.String()
	}
	return "a " + t.String()
}

func keyString(v any) (string, error) {
	switch k := v.(type) {
	case string:
		return k, nil
	case int:
		return strconv.Itoa(k), nil
	case float64:
		return strconv.FormatFloat(k, 'f', -1, 64), nil
	case bool:
		return strconv.FormatBool(k), nil
	case nil:
		return "", fmt.Errorf("result is nil, want a string")
	}
	return "", fmt.Errorf("result is a %T, want a string", v)
}
