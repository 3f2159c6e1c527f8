package quantize

import (
	"fmt"
	"slices"

	"github.com/edgeflow/edgeflow/models"
)

// Detector families with a measured quantisation recipe.
const (
	YOLOX     = "yolox"
	NanoDet   = "nanodet"
	UltraFace = "ultraface"
)

// Families lists the detector families Recipe knows.
var Families = []string{YOLOX, NanoDet, UltraFace}

// DetectorCalibViews are the image views a detector is calibrated on by
// default: four corner crops and a centre crop of every image, so that
// the whole and mirrored images stay held out for evaluation.
const DetectorCalibViews = "crop0.6-tl,crop0.6-tr,crop0.6-bl,crop0.6-br,crop0.75"

// DetectFamily recognises a detector family from a model's inputs and
// outputs (the layouts the mirror's README documents), or returns "".
//
//   - YOLOX: one [1,3,H,W] input and one [1,N,85] output (box, objectness,
//     80 COCO classes), N = (H/8)²+(H/16)²+(H/32)² for a square input.
//   - NanoDet: class-score outputs [1,n,80] next to box-distribution
//     outputs [1,n,32], three of each.
//   - UltraFace: outputs named scores [1,N,2] and boxes [1,N,4].
func DetectFamily(info *models.Info) string {
	if len(info.Inputs) != 1 || len(info.Inputs[0].Shape) != 4 {
		return ""
	}
	last := func(io models.IO) int64 {
		if len(io.Shape) != 3 {
			return -1
		}
		return io.Shape[2]
	}
	switch outs := info.Outputs; {
	case len(outs) == 1 && last(outs[0]) == 85:
		return YOLOX
	case len(outs) == 2 && slices.Contains(info.OutputNames(), "scores") && slices.Contains(info.OutputNames(), "boxes"):
		s, _ := info.Output("scores")
		b, _ := info.Output("boxes")
		if last(s) == 2 && last(b) == 4 {
			return UltraFace
		}
	case len(outs) == 6:
		var cls, box int
		for _, o := range outs {
			switch last(o) {
			case 80:
				cls++
			case 32:
				box++
			}
		}
		if cls == 3 && box == 3 {
			return NanoDet
		}
	}
	return ""
}

// Recipe returns the static quantisation options measured best for a
// detector family (BENCHMARKS.md and docs/compression.md have the
// figures): what `edgeflow model quantize` uses when it recognises the
// model or is told the family.
//
//   - YOLOX: SiLU quantised too (Sigmoid and Mul, so that ORT runs
//     QLinearSigmoid/QLinearMul and Conv→SiLU→Conv stays int8), and the
//     activations whose quantisation costs the most output accuracy (one
//     sensitivity sample) kept float.
//   - NanoDet: the defaults (Conv+LeakyRelu fuse) with bias correction,
//     and MoveOps, so that ShuffleNet's channel shuffles and splits run on
//     uint8 data instead of between DequantizeLinear and QuantizeLinear,
//     and the stem float (FloatStem: its 24-channel output, rounded to
//     one 8-bit scale, cost most of the disagreement with fp32).
//   - UltraFace: the defaults (Conv+Relu fuse).
func Recipe(family string) (Options, error) {
	switch family {
	case YOLOX:
		return Options{Ops: append(slices.Clone(DefaultOps), "Sigmoid", "Mul"), KeepFloat: 30, SensitivitySamples: 1}, nil
	case NanoDet:
		return Options{Ops: append(slices.Clone(DefaultOps), MoveOps...), BiasCorrection: true, FloatStem: true}, nil
	case UltraFace, "":
		return Options{}, nil
	}
	return Options{}, fmt.Errorf("unknown detector family %q (want one of %v)", family, Families)
}
