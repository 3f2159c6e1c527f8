package anomaly

import (
	"testing"

	"github.com/edgeflow/edgeflow/anomaly"
	"github.com/edgeflow/edgeflow/component"
	"github.com/edgeflow/edgeflow/pipeline"
	"go.yaml.in/yaml/v3"
)

// rarity_tail reaches the scorer: left out it is the library's default,
// and 0 turns the floor off rather than meaning "default".
func TestRarityTailOption(t *testing.T) {
	spec, _ := component.Lookup(pipeline.KindStage, "anomaly")
	for _, c := range []struct {
		yaml string
		want float64
	}{
		{"mode: score", anomaly.DefaultRarityTail},
		{"{mode: score, rarity_tail: 0.5}", 0.5},
		{"{mode: score, rarity_tail: 0}", -1},
	} {
		var doc yaml.Node
		if err := yaml.Unmarshal([]byte(c.yaml), &doc); err != nil {
			t.Fatal(err)
		}
		conf, errs := component.Parse(spec.Fields, doc.Content[0], "p.yaml", "stages.a", nil)
		if len(errs) > 0 {
			t.Fatal(errs)
		}
		if got := ScoreConfig(conf).RarityTail; got != c.want {
			t.Errorf("%s: RarityTail %v, want %v", c.yaml, got, c.want)
		}
	}
}
