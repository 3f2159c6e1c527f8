package main

import (
	"fmt"

	anomalyeval "github.com/edgeflow/edgeflow/anomaly/eval"
	"github.com/spf13/cobra"
)

// newModelTrainCmd builds model train and its subcommands.
func newModelTrainCmd(m *modelOptions) *cobra.Command {
	trainCmd := &cobra.Command{Use: "train", Short: "Train models in Go and export them as ONNX"}
	trainCmd.AddCommand(newTrainAnomalyCmd(m))
	return trainCmd
}

// newTrainAnomalyCmd builds model train anomaly.
func newTrainAnomalyCmd(m *modelOptions) *cobra.Command {
	var o struct {
		csvs                  []string
		out, int8Out, teacher string
		window                int
		epochs                int
		seed                  uint64
		normal                float64
		synthetic, maxSamples int
		hidden                []int
	}
	cmd := &cobra.Command{
		Use:   "anomaly (--csv FILE [--csv FILE...] | --synthetic N) --out MODEL.onnx [--int8 MODEL.int8.onnx]",
		Short: "Train the anomaly autoencoder on normal sensor data",
		Long: `anomaly trains the autoencoder the anomaly stage scores with: windows of --window
readings, each sensor (CSV file, timestamp,value) z-scored by its own statistics, a
W→16→4→16→W network fitted with Adam (deterministic for a given --seed). Only the first
--normal fraction of each file is used: the part known to be normal. The model is written
as float32 ONNX to --out and, with --int8, statically quantised (calibrated on the
training windows) to that file. With --synthetic N it is trained on N windows of synthetic
series instead (cycles, square waves, ramps, random walks, noise; see anomaly.SyntheticSeries):
a model that has seen no real sensor, which the example ships.

--hidden sets the hidden layer widths (the middle one is the linear bottleneck). With
--teacher FILE (an fp32 model written by this command) the model is distilled: it learns
to give the teacher's reconstructions of the training windows instead of the windows
themselves, so a small student can stand in for a larger teacher
(docs/anomaly.md, "Distillation").`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if (len(o.csvs) == 0) == (o.synthetic <= 0) || o.out == "" {
				return usageError{fmt.Errorf("need --out and either at least one --csv or --synthetic")}
			}
			if o.normal <= 0 || o.normal > 1 {
				return usageError{fmt.Errorf("--normal %v: want a fraction in (0, 1]", o.normal)}
			}
			pr := newProgress(cmd.ErrOrStderr())
			defer pr.Finish()
			return anomalyeval.Train(cmd.OutOrStdout(), anomalyeval.TrainOptions{CSVs: o.csvs, Synthetic: o.synthetic, Normal: o.normal,
				Window: o.window, Epochs: o.epochs, Seed: o.seed, Hidden: o.hidden, Teacher: o.teacher, MaxSamples: o.maxSamples, Out: o.out, Int8Out: o.int8Out, Library: m.library,
				Progress: func(done, total int) { pr.Step("training (epochs)", done, total) }})
		},
	}
	f := cmd.Flags()
	f.StringArrayVar(&o.csvs, "csv", nil, "timestamp,value CSV of one sensor (repeat for several)")
	f.StringVar(&o.out, "out", "", "where to write the float32 ONNX model")
	f.StringVar(&o.int8Out, "int8", "", "also write an int8 model here")
	f.IntVar(&o.window, "window", 16, "window length in readings")
	f.IntVar(&o.epochs, "epochs", 60, "training epochs")
	f.Uint64Var(&o.seed, "seed", 1, "training seed")
	f.IntVar(&o.synthetic, "synthetic", 0, "train on this many windows of synthetic series instead of --csv files")
	f.IntSliceVar(&o.hidden, "hidden", []int{16, 4, 16}, "hidden layer widths; the middle one is the linear bottleneck")
	f.StringVar(&o.teacher, "teacher", "", "distil: learn this fp32 model's reconstructions instead of the windows")
	f.IntVar(&o.maxSamples, "max-samples", 20000, "train on at most this many windows (evenly subsampled)")
	f.Float64Var(&o.normal, "normal", 1, "leading fraction of each file that is normal and used for training")
	return cmd
}
