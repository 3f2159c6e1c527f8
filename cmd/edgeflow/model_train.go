package main

import (
	"fmt"
	"os"
	"strconv"

	"github.com/edgeflow/edgeflow/anomaly"
	"github.com/edgeflow/edgeflow/anomaly/nab"
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
		csvs         []string
		out, int8Out string
		window       int
		epochs       int
		seed         uint64
		normal       float64
	}
	cmd := &cobra.Command{
		Use:   "anomaly --csv FILE [--csv FILE...] --out MODEL.onnx [--int8 MODEL.int8.onnx]",
		Short: "Train the anomaly autoencoder on normal sensor data",
		Long: `anomaly trains the autoencoder the anomaly stage scores with: windows of --window
readings, each sensor (CSV file, timestamp,value) z-scored by its own statistics, a
W→16→4→16→W network fitted with Adam (deterministic for a given --seed). Only the first
--normal fraction of each file is used: the part known to be normal. The model is written
as float32 ONNX to --out and, with --int8, statically quantised (calibrated on the
training windows) to that file.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if len(o.csvs) == 0 || o.out == "" {
				return usageError{fmt.Errorf("need at least one --csv and --out")}
			}
			if o.normal <= 0 || o.normal > 1 {
				return usageError{fmt.Errorf("--normal %v: want a fraction in (0, 1]", o.normal)}
			}
			var wins [][]float32
			for _, path := range o.csvs {
				f, err := nab.ReadFile(path)
				if err != nil {
					return err
				}
				n := int(o.normal * float64(len(f.Values)))
				z := &anomaly.Normalizer{}
				for _, v := range f.Values[:n] {
					z.Observe(v)
				}
				wins = append(wins, anomaly.Windows(f.Values, 0, n, o.window, z)...)
			}
			if len(wins) == 0 {
				return fmt.Errorf("no window of %d readings in the normal part of the data", o.window)
			}
			ae, res, err := anomaly.Train(wins, anomaly.TrainConfig{Epochs: o.epochs, Seed: o.seed})
			if err != nil {
				return err
			}
			meta := map[string]string{"edgeflow.seed": strconv.FormatUint(o.seed, 10),
				"edgeflow.samples": strconv.Itoa(res.Samples)}
			var fp32, q []byte
			if o.int8Out != "" {
				if err := m.initRuntime(); err != nil {
					return err
				}
				fp32, q, err = anomaly.ExportPair(ae, wins, meta)
			} else {
				fp32, err = ae.MarshalONNX(meta)
			}
			if err != nil {
				return err
			}
			if err := os.WriteFile(o.out, fp32, 0o644); err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "trained %v on %d windows: loss %.4f → %.4f; wrote %s (%d bytes)\n",
				ae.Widths(), res.Samples, res.Initial, res.Loss[len(res.Loss)-1], o.out, len(fp32))
			if q != nil {
				if err := os.WriteFile(o.int8Out, q, 0o644); err != nil {
					return err
				}
				fmt.Fprintf(out, "wrote %s (%d bytes, int8)\n", o.int8Out, len(q))
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringArrayVar(&o.csvs, "csv", nil, "timestamp,value CSV of one sensor (repeat for several)")
	f.StringVar(&o.out, "out", "", "where to write the float32 ONNX model")
	f.StringVar(&o.int8Out, "int8", "", "also write an int8 model here")
	f.IntVar(&o.window, "window", 16, "window length in readings")
	f.IntVar(&o.epochs, "epochs", 60, "training epochs")
	f.Uint64Var(&o.seed, "seed", 1, "training seed")
	f.Float64Var(&o.normal, "normal", 1, "leading fraction of each file that is normal and used for training")
	return cmd
}
