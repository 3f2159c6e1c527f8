package main

import (
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/edgeflow/edgeflow/anomaly"
	"github.com/edgeflow/edgeflow/models"
	"github.com/edgeflow/edgeflow/nab"
	"github.com/spf13/cobra"
)

func init() {
	evalCmd := &cobra.Command{
		Use:   "eval",
		Short: "Score detectors on benchmarks",
	}
	var o struct {
		data, mode, model, runtime, lib, thresholds string
		window, epochs                              int
		seed                                        uint64
		int8, files                                 bool
	}
	nabCmd := &cobra.Command{
		Use:   "nab",
		Short: "Run the anomaly detector over a NAB corpus online and print its NAB scores",
		Long: `nab runs edgeflow's anomaly detector (window → per-sensor normalisation →
autoencoder → likelihood → alerts, the code the window, onnx and anomaly stages run) over
every file of a NAB-format corpus, row by row, and prints the NAB score for the standard,
reward_low_FP_rate and reward_low_FN_rate profiles.

The normaliser and, unless --model is given, the autoencoder learn from each file's
probationary period (its first 15%, at most 750 rows), which NAB does not score: one model
for all files (--mode global) or one per file (--mode per-sensor). As NAB optimises each
detector's threshold over the corpus, the alert threshold is swept and the best is shown
per profile; "raw" is the log-likelihood itself without alert hysteresis.

With --int8 the global model is also quantised (static QDQ, calibrated on the training
windows) and both are scored through ONNX Runtime.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			files, err := nab.LoadCorpus(o.data)
			if err != nil {
				return err
			}
			cfg := nab.EvalConfig{Window: o.window, Mode: o.mode,
				Train: anomaly.TrainConfig{Epochs: o.epochs, Seed: o.seed}}
			if o.thresholds != "" {
				if cfg.Thresholds, err = parseFloats(o.thresholds); err != nil {
					return usageError{fmt.Errorf("--thresholds: %w", err)}
				}
			}
			useORT := o.runtime == "ort"
			if o.runtime != "ort" && o.runtime != "go" {
				return usageError{fmt.Errorf("--runtime %q: want ort or go", o.runtime)}
			}
			if useORT || o.model != "" || o.int8 {
				if err := models.Init(o.lib); err != nil {
					return err
				}
			}
			if useORT {
				cfg.Runtime = ortRuntime
			}
			out := cmd.OutOrStdout()
			if o.model != "" {
				data, err := os.ReadFile(o.model)
				if err != nil {
					return err
				}
				r, done, err := ortReconstructor(data)
				if err != nil {
					return err
				}
				defer done()
				cfg.Model, cfg.Window = r, anomaly.WindowOf(data)
				return runEval(out, files, cfg, "model "+o.model, o.files)
			}
			if !o.int8 {
				return runEval(out, files, cfg, fmt.Sprintf("%s autoencoder, %s", o.mode, o.runtime), o.files)
			}
			if o.mode != nab.Global {
				return usageError{fmt.Errorf("--int8 needs --mode global")}
			}
			fp32, int8Model, err := trainGlobalPair(files, cfg)
			if err != nil {
				return err
			}
			for _, m := range []struct {
				name string
				data []byte
			}{{"fp32 (ORT)", fp32}, {"int8 (ORT)", int8Model}} {
				r, done, err := ortReconstructor(m.data)
				if err != nil {
					return err
				}
				c := cfg
				c.Model, c.Runtime = r, nil
				err = runEval(out, files, c, "global autoencoder "+m.name, o.files)
				done()
				if err != nil {
					return err
				}
			}
			return nil
		},
	}
	f := nabCmd.Flags()
	f.StringVar(&o.data, "data", "../shared/data/nab", "NAB corpus: a folder with data/ and labels/combined_windows.json")
	f.StringVar(&o.mode, "mode", nab.Global, "one model for all sensors (global) or one per sensor (per-sensor)")
	f.IntVar(&o.window, "window", 16, "window length in readings")
	f.IntVar(&o.epochs, "epochs", 60, "training epochs")
	f.Uint64Var(&o.seed, "seed", 1, "training seed")
	f.StringVar(&o.runtime, "runtime", "ort", "run the model with ONNX Runtime (ort) or the Go forward pass (go)")
	f.StringVar(&o.model, "model", "", "score with this ONNX model (fp32 or int8) instead of training")
	f.BoolVar(&o.int8, "int8", false, "also quantise the global model to int8 and score both")
	f.StringVar(&o.lib, "ort-lib", "", "path of libonnxruntime.so (default: $"+models.LibraryEnv+", .cache/onnxruntime, system paths)")
	f.StringVar(&o.thresholds, "thresholds", "", "comma-separated alert thresholds to sweep (default 0.1 to 0.95 by 0.025)")
	f.BoolVar(&o.files, "files", false, "print each file's standard-profile result")
	evalCmd.AddCommand(nabCmd)
	rootCmd.AddCommand(evalCmd)
}

func runEval(out io.Writer, files []*nab.File, cfg nab.EvalConfig, label string, perFile bool) error {
	start := time.Now()
	res, err := nab.Evaluate(files, cfg)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "%s: %d files, %s\n", label, len(files), time.Since(start).Round(time.Millisecond))
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "profile\tNAB score\talert threshold\twindows detected\tFP alerts\traw likelihood score\t")
	for i, r := range res.Alerts {
		det, win, fp := 0, 0, 0
		for _, f := range r.Files {
			det, win, fp = det+f.Detected, win+f.Windows, fp+f.FP
		}
		fmt.Fprintf(tw, "%s\t%.1f\t%.3f\t%d/%d\t%d\t%.1f\t\n", r.Profile.Name, r.Normalized, res.AlertThreshold[i], det, win, fp, res.Raw[i].Normalized)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if perFile {
		tw = tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "file\tscore\tdetected\tFP")
		for _, f := range res.Alerts[0].Files {
			fmt.Fprintf(tw, "%s\t%.2f\t%d/%d\t%d\n", f.Name, f.Score, f.Detected, f.Windows, f.FP)
		}
		return tw.Flush()
	}
	return nil
}

// trainGlobalPair trains the global model on every file's probationary
// windows and quantises it, calibrated on the same windows.
func trainGlobalPair(files []*nab.File, cfg nab.EvalConfig) (fp32, int8Model []byte, err error) {
	wins := nab.TrainingWindows(files, cfg.Window)
	ae, _, err := anomaly.Train(wins, cfg.Train)
	if err != nil {
		return nil, nil, err
	}
	return anomaly.ExportPair(ae, wins, nil)
}

// ortReconstructor runs a serialised model with ONNX Runtime.
func ortReconstructor(data []byte) (anomaly.Reconstructor, func(), error) {
	s, err := models.NewSession(data, models.Options{IntraOpThreads: 1})
	if err != nil {
		return nil, nil, err
	}
	return ortModel{s}, func() { s.Close() }, nil
}

func ortRuntime(ae *anomaly.Autoencoder) (anomaly.Reconstructor, func(), error) {
	data, err := ae.MarshalONNX(nil)
	if err != nil {
		return nil, nil, err
	}
	return ortReconstructor(data)
}

// ortModel adapts a session to anomaly.Reconstructor.
type ortModel struct{ s *models.Session }

func (m ortModel) Reconstruct(windows [][]float32) ([][]float32, error) {
	if len(windows) == 0 {
		return nil, nil
	}
	w := len(windows[0])
	flat := make([]float32, 0, w*len(windows))
	for _, x := range windows {
		flat = append(flat, x...)
	}
	outs, err := m.s.Run([]models.Tensor{{Shape: []int64{int64(len(windows)), int64(w)}, Data: flat}})
	if err != nil {
		return nil, err
	}
	y := outs[0].Data
	if len(y) != len(flat) {
		return nil, fmt.Errorf("model returned %d values for %d", len(y), len(flat))
	}
	res := make([][]float32, len(windows))
	for i := range res {
		res[i] = y[i*w : (i+1)*w]
	}
	return res, nil
}

func parseFloats(s string) ([]float64, error) {
	var out []float64
	for _, part := range strings.Split(s, ",") {
		v, err := strconv.ParseFloat(strings.TrimSpace(part), 64)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}
