package eval

import (
	"slices"

	"github.com/edgeflow/edgeflow/models"
	"github.com/edgeflow/edgeflow/models/compare"
)

// Reconstruction judges autoencoders by the anomaly scores they give: the
// Spearman rank correlation of the two models' reconstruction errors (mean
// squared error of output against input) over the samples. It fits a model
// whose one output has its one input's shape.
var Reconstruction compare.Task = reconstruction{}

type reconstruction struct{}

func (reconstruction) Name() string { return "anomaly" }

func (reconstruction) Fits(info *models.Info) bool {
	return len(info.Outputs) == 1 && len(info.Inputs) == 1 && slices.Equal(info.Outputs[0].Shape, info.Inputs[0].Shape)
}

func (reconstruction) NewVerdict() compare.Verdict { return &scoreRanks{} }

// scoreRanks collects both models' reconstruction errors.
type scoreRanks struct{ a, b []float64 }

func (v *scoreRanks) Add(s compare.Sample, a, b compare.Run) error {
	v.a = append(v.a, reconError(s.Inputs[0].Data, a.Out[0].Data))
	v.b = append(v.b, reconError(s.Inputs[0].Data, b.Out[0].Data))
	return nil
}

func (v *scoreRanks) Agreement() float64 { return compare.Spearman(v.a, v.b) }

func reconError(in, out []float32) float64 {
	if len(in) != len(out) {
		return 0
	}
	var s float64
	for i := range in {
		d := float64(in[i]) - float64(out[i])
		s += d * d
	}
	return s / float64(max(len(in), 1))
}
