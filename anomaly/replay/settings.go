package replay

import (
	"fmt"

	"github.com/edgeflow/edgeflow/anomaly/nab"
	"github.com/edgeflow/edgeflow/config"
	stage "github.com/edgeflow/edgeflow/stages/anomaly"
)

// Settings reads the detector settings of a pipeline file (its window stage
// and its anomaly stages in normalize and score mode) into an EvalConfig, so
// that nab.Evaluate can run the same detector in Go: what is left between
// the two is what the engine, the brokers and ONNX Runtime change. The
// alert threshold is taken too, but nab.Evaluate sweeps its own.
func Settings(path string) (nab.EvalConfig, error) {
	f, err := config.Load(path)
	if err != nil {
		return nab.EvalConfig{}, fmt.Errorf("replay: %w", err)
	}
	var cfg nab.EvalConfig
	var haveWindow, haveNorm, haveScore bool
	for _, n := range f.Nodes {
		c := n.Config
		switch {
		case n.Type == "window" && !haveWindow:
			if c.Int("step") != 1 {
				return cfg, fmt.Errorf("replay: %s: window %q has step %d; the Go detector slides by 1", path, n.Name, c.Int("step"))
			}
			cfg.Window, haveWindow = c.Int("size"), true
		case n.Type == "anomaly" && c.String("mode") == "normalize" && !haveNorm:
			cfg.NormWarmup, cfg.Clip, cfg.HalfLife, haveNorm = c.Int("warmup"), c.Float("clip"), c.Int("half_life"), true
		case n.Type == "anomaly" && c.String("mode") == "score" && !haveScore:
			cfg.Score, haveScore = stage.ScoreConfig(c), true
		}
	}
	if !haveWindow || !haveNorm || !haveScore {
		return cfg, fmt.Errorf("replay: %s: want a window stage and anomaly stages in normalize and score mode", path)
	}
	return cfg, nil
}
