package anomaly

import (
	"maps"
	"slices"
	"testing"

	"github.com/edgeflow/edgeflow/component"
	"github.com/edgeflow/edgeflow/component/schema"
	"github.com/edgeflow/edgeflow/internal/componenttest"
	"github.com/edgeflow/edgeflow/pipeline"
	"github.com/rs/zerolog"
	"go.yaml.in/yaml/v3"
)

func schemaOf(t *testing.T, cfg string, in schema.Schema) schema.Schema {
	t.Helper()
	spec, _ := component.Lookup(pipeline.KindStage, "anomaly")
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(cfg), &doc); err != nil {
		t.Fatal(err)
	}
	conf, errs := component.Parse(spec.Fields, doc.Content[0], "p.yaml", "stages.a", nil)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	s, err := spec.Schema(conf, in, &component.Resources{Logger: zerolog.Nop(), Node: "a"})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// The fields validate expects after a score stage are those of a score it
// emits, with the same types; in normalize mode the input's and the
// normalised window.
func TestSchemaMatchesScores(t *testing.T) {
	st := componenttest.MustBuild(t, pipeline.KindStage, "anomaly", "emit: all\nlearn: 10")
	m := pipeline.NewMessage(nil)
	m.Key = "a"
	m.Fields = map[string]any{"window_norm": []float32{1, 2}, "reconstruction": []float32{1, 2.1}, "window": []float32{3, 4}}
	res := componenttest.RunChain(t, componenttest.NewTrackingSource(m), st)
	if len(res.Out) != 1 {
		t.Fatalf("%d scores, want 1", len(res.Out))
	}
	got := map[string]schema.Type{}
	for k, v := range res.Out[0].Fields {
		got[k] = schema.Of(v)
	}
	s := schemaOf(t, "emit: all", schema.Unknown())
	if !s.Closed || !maps.Equal(got, s.Fields) {
		t.Errorf("a score has %v, the schema says %v", got, s.Fields)
	}

	in := schema.Schema{Closed: true, Fields: map[string]schema.Type{"window": schema.Floats, "count": schema.Int}}
	n := schemaOf(t, "mode: normalize\nnormalized: z", in)
	if !n.Closed || !slices.Equal(n.Names(), []string{"count", "window", "z"}) || n.Fields["z"] != schema.Floats {
		t.Errorf("normalize: %+v", n)
	}
}
