package anomaly

import (
	"github.com/edgeflow/edgeflow/component"
	"github.com/edgeflow/edgeflow/component/schema"
)

// scoreFields are the fields of a score mode message (see the spec's
// description); TestSchemaMatchesScores keeps the two in step.
var scoreFields = map[string]schema.Type{
	"sensor": schema.String, "time": schema.String,
	"score": schema.Float, "likelihood": schema.Float, "error": schema.Float,
	"alert": schema.Bool, "ready": schema.Bool,
	"min": schema.Float, "max": schema.Float, "mean": schema.Float, "last": schema.Float,
}

// stageSchema is the fields the stage emits: in normalize mode its input's
// and the normalised window, in score mode those of a score.
func stageSchema(conf *component.Config, in schema.Schema, res *component.Resources) (schema.Schema, error) {
	if conf.String("mode") == "normalize" {
		return in.With(conf.String("normalized"), schema.Floats), nil
	}
	fields := make(map[string]schema.Type, len(scoreFields))
	for k, v := range scoreFields {
		fields[k] = v
	}
	return schema.Schema{Closed: true, Fields: fields, From: "made by the anomaly stage " + res.Node}, nil
}
