package replay

import (
	"fmt"

	"github.com/edgeflow/edgeflow/anomaly/nab"
	"github.com/edgeflow/edgeflow/component"
	"github.com/edgeflow/edgeflow/pipeline"
	stage "github.com/edgeflow/edgeflow/stages/anomaly"
)

// StageDefaults returns the detector settings of anomaly stages left at
// their defaults (normalize and score mode), window length w: what the Go
// path of `edgeflow eval nab` runs, so that it adapts per stream exactly as
// a pipeline with default stages does (normaliser warm-up and half-life,
// rarity, likelihood, rest) instead of freezing the normaliser after each
// file's probation.
func StageDefaults(w int) (nab.EvalConfig, error) {
	spec, ok := component.Lookup(pipeline.KindStage, "anomaly")
	if !ok {
		return nab.EvalConfig{}, fmt.Errorf("replay: the anomaly stage is not registered")
	}
	c, errs := component.Parse(spec.Fields, nil, "", "anomaly", nil)
	if len(errs) > 0 {
		return nab.EvalConfig{}, fmt.Errorf("replay: anomaly stage defaults: %w", errs[0])
	}
	return nab.EvalConfig{Window: w, NormWarmup: c.Int("warmup"), Clip: c.Float("clip"),
		HalfLife: c.Int("half_life"), Score: stage.ScoreConfig(c)}, nil
}
