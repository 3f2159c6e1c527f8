package main

import (
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"

	anomalyeval "github.com/edgeflow/edgeflow/anomaly/eval"
	"github.com/edgeflow/edgeflow/models"
	"github.com/edgeflow/edgeflow/models/compare"
	"github.com/edgeflow/edgeflow/models/graph"
	"github.com/edgeflow/edgeflow/models/onnxpb"
	"github.com/edgeflow/edgeflow/models/quantize"
	visioneval "github.com/edgeflow/edgeflow/vision/eval"
	"github.com/spf13/cobra"
)

// quantizeOptions are the flags of model quantize.
type quantizeOptions struct {
	mode, calib, method, opset string
	percentile, maxStep        float64
	perTensor, signed, biasCor bool
	foldFocus                  bool
	floatStem                  bool
	sensMetric, detector       string
	kernelCheck                string
	ops, exclude               []string
	data                       dataFlags
	keepFloat, sensSamples     int
}

// newModelQuantizeCmd builds model quantize.
func newModelQuantizeCmd(mo *modelOptions) *cobra.Command {
	f := &quantizeOptions{}
	cmd := &cobra.Command{
		Use:   "quantize IN OUT",
		Short: "Quantise a float32 model to int8 (static QDQ, dynamic or weight-only)",
		Long: `quantize writes an int8 version of a float32 ONNX model.

--mode static (default) calibrates activation ranges by running the model on
--calib data (a folder of images, an image, a CSV of vectors, a JSON Lines
file, or nab:GLOB: NAB-format timestamp,value series cut into --window windows) and writes QDQ nodes that ONNX Runtime fuses into QLinearConv, QGemm,
QLinearMatMul. --mode dynamic needs no data (MatMul/Gemm only);
--mode weight-only stores int8 weights behind DequantizeLinear (run it with the
session config entry session.disable_quant_qdq=1 to fold them to float weights).
--keep-float N finds the N activations whose quantisation costs the most
output accuracy and keeps them float. --ops Conv,...,Sigmoid,Mul also quantises
SiLU (x·sigmoid(x)) so that ORT runs it as QLinearSigmoid/QLinearMul.
A detector (YOLOX, NanoDet, UltraFace: recognised from the model's outputs, or
named by --detector) gets its measured recipe: its preprocessing, calibration on
corner and centre crops of the images, for YOLOX quantised SiLU with the 30
most sensitive activations float, for NanoDet bias correction, channel
shuffles and splits on uint8 (--ops ...,Split,Reshape,Transpose,Slice) and a
float stem (--float-stem);
explicit flags override it. The result stores
two calibration samples and is checked on them: ORT's optimised int8 execution
must agree with the unfused reference on this CPU (--kernel-check).
Models older than opset 13 are upgraded (--opset upgrade) so that weights get
per-channel scales, or kept at their opset with per-tensor scales (--opset keep).`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := mo.initRuntime(); err != nil {
				return err
			}
			m, err := graph.Load(args[0])
			if err != nil {
				return err
			}
			family, recipe, err := detectorRecipe(args[0], f.detector)
			if err != nil {
				return err
			}
			pr := newProgress(cmd.ErrOrStderr())
			defer pr.Finish()
			opts := quantize.Options{Method: quantize.Method(f.method), Percentile: f.percentile, MaxStep: f.maxStep,
				SignedActivations: f.signed, PerTensor: f.perTensor, Ops: recipe.Ops, Exclude: f.exclude,
				Opset: quantize.OpsetPolicy(f.opset), KeepFloat: recipe.KeepFloat, SensitivitySamples: recipe.SensitivitySamples,
				SensitivityMetric: f.sensMetric, BiasCorrection: recipe.BiasCorrection, KernelCheck: models.KernelCheck(f.kernelCheck),
				Progress: func(phase string, done, total int) { pr.Step(phase, done, total) }}
			fl := cmd.Flags()
			if fl.Changed("ops") {
				opts.Ops = f.ops
			}
			if fl.Changed("bias-correction") {
				opts.BiasCorrection = f.biasCor
			}
			opts.FoldFocus = f.foldFocus
			opts.FloatStem = recipe.FloatStem
			if fl.Changed("float-stem") {
				opts.FloatStem = f.floatStem
			}
			if fl.Changed("keep-float") {
				opts.KeepFloat = f.keepFloat
			}
			if fl.Changed("sensitivity-samples") || opts.SensitivitySamples == 0 {
				opts.SensitivitySamples = f.sensSamples
			}
			data := f.data
			if family != "" {
				if data.preprocess == "" {
					data.preprocess = family
				}
				if data.views == "" && !data.augment {
					data.views = quantize.DetectorCalibViews
				}
			}
			var out *onnxpb.ModelProto
			var rep *quantize.Report
			switch f.mode {
			case "static":
				if f.calib == "" {
					return fmt.Errorf("--mode static needs --calib DATA (or use --mode dynamic or weight-only)")
				}
				samples, err := loadSamples(args[0], f.calib, data)
				if err != nil {
					return err
				}
				in := make([][]models.Tensor, len(samples))
				for i, s := range samples {
					in[i] = s.Inputs
				}
				out, rep, err = quantize.Static(m, quantize.FromSamples(in), opts)
				if err != nil {
					return err
				}
			case "dynamic":
				if out, rep, err = quantize.Dynamic(m, opts); err != nil {
					return err
				}
			case "weight-only":
				if out, rep, err = quantize.WeightOnly(m, opts); err != nil {
					return err
				}
			default:
				return fmt.Errorf("unknown --mode %q (want static, dynamic or weight-only)", f.mode)
			}
			if err := graph.Save(args[1], out); err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			if family != "" {
				ops := strings.Join(opts.Ops, ",")
				if ops == "" {
					ops = strings.Join(quantize.DefaultOps, ",")
				}
				fmt.Fprintf(w, "detector %s: recipe ops %s, keep-float %d, bias correction %v, float stem %v, calibration views %s\n",
					family, ops, opts.KeepFloat, opts.BiasCorrection, opts.FloatStem, data.views)
			}
			fmt.Fprintln(w, rep)
			if rep.FocusFolded > 0 {
				fmt.Fprintf(w, "folded %d Focus stem(s) into a stride-2 Conv\n", rep.FocusFolded)
			}
			if len(rep.Upgraded) > 0 {
				fmt.Fprintf(w, "opset upgrade rewrote %d nodes: %s\n", len(rep.Upgraded), strings.Join(rep.Upgraded, ", "))
			}
			for _, s := range rep.Skipped {
				fmt.Fprintln(w, "kept float:", s)
			}
			if rep.KernelCheck != nil {
				fmt.Fprintln(w, rep.KernelCheck)
			}
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.mode, "mode", "static", "static, dynamic or weight-only")
	fl.StringVar(&f.calib, "calib", "", "calibration data: image folder, image, .csv or .jsonl of vectors, or nab:GLOB of timestamp,value series")
	fl.StringVar(&f.method, "method", "minmax", "calibration: minmax or percentile")
	fl.BoolVar(&f.floatStem, "float-stem", false, "static: keep the stem float (the Conv reading the image, the activation/max-pool after it, and the Convs reading its output); the NanoDet recipe's default")
	fl.BoolVar(&f.foldFocus, "fold-focus", false, "static: rewrite a YOLO Focus stem (strided slices + concat + conv) into one stride-2 conv on the image: faster, same maths, other float rounding")
	fl.Float64Var(&f.percentile, "percentile", 99.999, "percentile for --method percentile")
	fl.Float64Var(&f.maxStep, "max-step", 0.15, "keep an activation float when its 8-bit step exceeds this many standard deviations (negative: never)")
	fl.BoolVar(&f.perTensor, "per-tensor", false, "one weight scale per tensor instead of per channel")
	fl.BoolVar(&f.signed, "int8-activations", false, "int8 activations instead of uint8")
	fl.StringSliceVar(&f.ops, "ops", nil, "operator types to quantise (default Conv,Gemm,MatMul,Add,Concat,MaxPool,AveragePool,GlobalAveragePool)")
	fl.StringSliceVar(&f.exclude, "exclude", nil, "node names to keep float")
	fl.IntVar(&f.keepFloat, "keep-float", 0, "static: measure each activation's effect on the output error and keep this many of the worst float (sensitivity analysis; one run per activation and sample)")
	fl.IntVar(&f.sensSamples, "sensitivity-samples", 4, "calibration samples the sensitivity analysis runs on")
	fl.StringVar(&f.sensMetric, "sensitivity-metric", "channel", "output error the sensitivity analysis ranks by: channel (relative error of every output channel, averaged) or tensor")
	fl.BoolVar(&f.biasCor, "bias-correction", false, "static: correct every Conv's bias for the mean shift its int8 weights cause")
	fl.StringVar(&f.detector, "detector", "", "detector family whose measured recipe to use: "+strings.Join(quantize.Families, ", ")+" (default: recognised from the model's outputs; none for other models)")
	fl.StringVar(&f.kernelCheck, "kernel-check", "refuse", "when ORT's optimised int8 execution of the result disagrees with the unfused reference on this CPU: refuse, warn or off")
	fl.StringVar(&f.opset, "opset", "upgrade", "models older than opset 13: upgrade (per-channel) or keep (per-tensor)")
	addDataFlags(cmd, &f.data)
	return cmd
}

// dataFlags say how calibration/comparison data becomes model inputs.
type dataFlags struct {
	preprocess, normalize, views string
	augment                      bool
	limit, window, stride        int
}

// addDataFlags adds the flags that say how images and series become model
// inputs.
func addDataFlags(cmd *cobra.Command, d *dataFlags) {
	names := slices.Sorted(maps.Keys(visioneval.Presets))
	fl := cmd.Flags()
	fl.StringVar(&d.preprocess, "preprocess", "", "image preprocessing: "+strings.Join(names, ", ")+" (default: guessed from the model file name, else rgb)")
	fl.BoolVar(&d.augment, "augment", false, "add a mirrored and a centre-cropped view of every image")
	fl.StringVar(&d.views, "views", "", "views of every image, replacing --augment: full, mirror, crop, cropF, cropF-tl|-tr|-bl|-br, each optionally mirror-... (e.g. crop0.6-tl,crop0.6-br)")
	fl.IntVar(&d.limit, "limit", 0, "use at most this many samples (0: all)")
	fl.IntVar(&d.window, "window", 0, "cut series (nab:GLOB, or a timestamp,value CSV) into windows of this many values (default for nab: the model's input width)")
	fl.IntVar(&d.stride, "stride", 0, "values between the starts of consecutive windows (default window/4)")
	fl.StringVar(&d.normalize, "normalize", "zscore", "series windows: zscore (each file by its warm-up statistics, as the anomaly stage does) or none")
}

// loadSamples reads data for the model at path, sizing images and series
// windows to its input: series (nab:GLOB, or a CSV with --window) through
// anomaly/eval, images through vision/eval, vectors (.csv, .jsonl) through
// models/compare.
func loadSamples(path, data string, d dataFlags) ([]compare.Sample, error) {
	info, err := models.Inspect(path)
	if err != nil {
		return nil, err
	}
	opts := visioneval.ImageOptions{Augment: d.augment, Limit: d.limit}
	if d.views != "" {
		if opts.Views, err = visioneval.ParseViews(d.views); err != nil {
			return nil, err
		}
	}
	nhwc := false
	if len(info.Inputs) == 1 && len(info.Inputs[0].Shape) == 4 {
		opts.Height, opts.Width = int(info.Inputs[0].Shape[2]), int(info.Inputs[0].Shape[3])
		if sh := info.Inputs[0].Shape; sh[3] == 3 && sh[1] != 3 { // NHWC (TFLite conversions)
			opts.Height, opts.Width, nhwc = int(sh[1]), int(sh[2]), true
		}
	}
	window := d.window
	if window == 0 && strings.HasPrefix(data, anomalyeval.SeriesPrefix) && len(info.Inputs) == 1 {
		if shape := info.Inputs[0].Shape; len(shape) > 0 && shape[len(shape)-1] > 0 {
			window = int(shape[len(shape)-1])
		}
	}
	preprocess := d.preprocess
	if preprocess == "" {
		preprocess = visioneval.PresetFor(path)
	}
	p, ok := visioneval.Presets[preprocess]
	if !ok {
		return nil, fmt.Errorf("unknown --preprocess %q", preprocess)
	}
	opts.Preprocess = p
	opts.Preprocess.NHWC = nhwc
	if err := anomalyeval.CheckNormalize(d.normalize); err != nil {
		return nil, err
	}
	if glob, ok := anomalyeval.IsSeries(data, window); ok {
		return anomalyeval.LoadSeries(glob, anomalyeval.SeriesOptions{Window: window, Stride: d.stride, Normalize: d.normalize, Limit: d.limit})
	}
	if st, err := os.Stat(data); err == nil && (st.IsDir() || visioneval.IsImage(data)) {
		return visioneval.LoadImages(data, opts)
	}
	return compare.LoadVectors(data, d.limit)
}

// detectorRecipe returns the detector family (given, or recognised from
// the model) and its quantisation recipe.
func detectorRecipe(path, family string) (string, quantize.Options, error) {
	if family == "" {
		info, err := models.Inspect(path)
		if err != nil {
			return "", quantize.Options{}, err
		}
		family = quantize.DetectFamily(info)
	}
	r, err := quantize.Recipe(family)
	if err != nil {
		return "", r, usageError{fmt.Errorf("--detector: %w", err)}
	}
	return family, r, nil
}
