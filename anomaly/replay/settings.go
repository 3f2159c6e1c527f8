package replay

import (
	"fmt"

	"github.com/edgeflow/edgeflow/anomaly"
	"github.com/edgeflow/edgeflow/anomaly/nab"
	"github.com/edgeflow/edgeflow/config"
)

// Settings reads the detector settings of a pipeline file (its window stage
// and its anomaly stages in normalize and score mode) into an EvalConfig, so
// that nab.Evaluate can run the same detector in Go: what is left between
// the two is what the engine, the brokers and ONNX Runtime change. The
// alert threshold is not taken (NAB sweeps it); a `release` given in the
// file is kept as a fraction of its threshold.
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
			cfg.NormWarmup, cfg.Clip, haveNorm = c.Int("warmup"), c.Float("clip"), true
		case n.Type == "anomaly" && c.String("mode") == "score" && !haveScore:
			cfg.Likelihood = anomaly.LikelihoodConfig{Short: c.Int("short"), History: c.Int("history"),
				Reestimate: c.Int("reestimate"), Learn: c.Int("warmup"), OneSided: c.Bool("one_sided")}
			cfg.Alert = anomaly.AlertConfig{Cooldown: c.Int("cooldown"), Refractory: c.Int("refractory")}
			if c.Has("release") {
				cfg.ReleaseRatio = c.Float("release") / c.Float("threshold")
			}
			haveScore = true
		}
	}
	if !haveWindow || !haveNorm || !haveScore {
		return cfg, fmt.Errorf("replay: %s: want a window stage and anomaly stages in normalize and score mode", path)
	}
	return cfg, nil
}
