// Package filter is the `filter` stage: it keeps the messages for which a
// condition holds.
package filter

import (
	"context"

	"github.com/edgeflow/edgeflow/component"
	"github.com/edgeflow/edgeflow/component/schema"
	"github.com/edgeflow/edgeflow/internal/expression"
	"github.com/edgeflow/edgeflow/pipeline"
)

func init() {
	component.Register(component.Spec{
		Kind:    pipeline.KindStage,
		Name:    "filter",
		Summary: "Keep only the messages for which a boolean expression is true.",
		Description: `Evaluates ` + "`condition`" + ` for each message and passes it on when the result
is true. Messages filtered out are acknowledged at their source: dropping them
is a decision, not a failure. The stage's received and emitted counters show
how many were dropped.

The condition is an [expr](https://expr-lang.org) expression that sees the
message's fields at the top level plus ` + "`key`, `topic`, `meta`, `source_time`, `ingest_time`" + ` and
` + "`fields`" + `. It must produce a bool: a result of another type, or a runtime error
(such as comparing a missing field), sends the message to the dead-letter sink.
Use ` + "`field ?? default`" + ` where a field may be missing. ` + "`edgeflow validate`" + ` checks the
condition against the fields the messages will have (see docs/expressions.md).`,
		Fields: []component.Field{
			{Name: "condition", Type: component.String,
				Description: "Boolean expression; messages for which it is true pass.",
				Example:     `value > 50 && key startsWith "boiler"`},
		},
		Example: `stages:
  hot:
    type: filter
    input: sensors
    condition: value > 30 || anomaly`,
		New: func(conf *component.Config, _ *component.Resources) (any, error) {
			prog, err := expression.Compile(conf.String("condition"), expression.AsBool())
			if err != nil {
				return nil, conf.Errorf("condition", "%v", err)
			}
			return &Filter{cond: prog}, nil
		},
		Schema: checkCondition,
	})
}

// checkCondition type-checks the condition against the input's fields; the
// messages pass with their fields unchanged.
func checkCondition(conf *component.Config, in schema.Schema, _ *component.Resources) (schema.Schema, error) {
	src := conf.String("condition")
	if _, err := expression.Compile(src, expression.AsBool()); err != nil {
		return in, nil // the constructor reports it
	}
	if _, err := expression.Check(src, in, expression.AsBool()); err != nil {
		return in, conf.TextError("condition", "", err)
	}
	return in, nil
}

// Filter is the filter stage. It is safe for concurrent use.
type Filter struct{ cond *expression.Program }

// Process implements pipeline.Processor.
func (f *Filter) Process(_ context.Context, m *pipeline.Message, out pipeline.Emitter) error {
	ok, err := f.cond.EvalBool(m)
	if err != nil {
		return err
	}
	if ok {
		out.Emit(m)
	}
	return nil
}
