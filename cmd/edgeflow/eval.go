package main

import (
	"context"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/edgeflow/edgeflow/anomaly"
	"github.com/edgeflow/edgeflow/anomaly/nab"
	"github.com/edgeflow/edgeflow/anomaly/replay"
	"github.com/edgeflow/edgeflow/models"
	"github.com/spf13/cobra"
)

// newEvalCmd builds eval and its subcommands.
func newEvalCmd(g *globalOptions) *cobra.Command {
	evalCmd := &cobra.Command{
		Use:   "eval",
		Short: "Score detectors on benchmarks",
	}
	var o struct {
		data, mode, model, runtime, lib, thresholds string
		pipeline, mqttURL, natsURL, subject         string
		only                                        []string
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
windows) and both are scored through ONNX Runtime.

With --pipeline FILE the detector is the pipeline itself, run by the engine: the global model
is trained (or --model taken), quantised, and for fp32 and int8 in turn the pipeline is built
with MQTT_URL, NATS_URL, ANOMALY_MODEL and ANOMALY_EMIT=all set, every file's rows are
published to MQTT as ` + "`edgeflow simulate`" + ` does (topic plant/<file name>/reading, JSON
{"value", "ts"}: ts is the row's time), and the per-window scores the pipeline publishes on
NATS (--subject) are placed on their rows by sensor and time and scored. Without --mqtt-url
the pipeline's embedded broker runs on a free port; without --nats-url an in-process
nats-server (JetStream in a temporary directory) does. The same models are also scored in Go,
both as without --pipeline and with the pipeline's own window and anomaly settings; the
latter should match the pipeline row for row.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			files, err := nab.LoadCorpus(o.data)
			if err != nil {
				return err
			}
			if files, err = selectFiles(files, o.only); err != nil {
				return usageError{err}
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
			if o.pipeline != "" {
				if o.mode != nab.Global {
					return usageError{fmt.Errorf("--pipeline needs --mode global")}
				}
				if err := models.Init(o.lib); err != nil {
					return err
				}
				return evalPipeline(cmd.Context(), out, files, cfg, pipelineEval{path: o.pipeline, model: o.model,
					mqttURL: o.mqttURL, natsURL: o.natsURL, subject: o.subject, perFile: o.files, g: g})
			}
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
	f.StringArrayVar(&o.only, "file", nil, "score only this file of the corpus (its name under data/, e.g. realKnownCause/nyc_taxi.csv; repeat for several)")
	f.StringVar(&o.pipeline, "pipeline", "", "score this pipeline file through the engine and brokers (see above)")
	f.StringVar(&o.mqttURL, "mqtt-url", "", "with --pipeline: the MQTT broker to use (default: the pipeline's embedded one on a free port)")
	f.StringVar(&o.natsURL, "nats-url", "", "with --pipeline: the NATS server to use (default: an in-process one)")
	f.StringVar(&o.subject, "subject", "plant.alerts.>", "with --pipeline: the NATS subject the pipeline publishes scores on")
	evalCmd.AddCommand(nabCmd)
	return evalCmd
}

func runEval(out io.Writer, files []*nab.File, cfg nab.EvalConfig, label string, perFile bool) error {
	start := time.Now()
	res, err := nab.Evaluate(files, cfg)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "%s: %d files, %s\n", label, len(files), time.Since(start).Round(time.Millisecond))
	return printEval(out, res, perFile)
}

// printEval prints a result's three profiles (and its files).
func printEval(out io.Writer, res *nab.EvalResult, perFile bool) error {
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

// selectFiles keeps the files named in only (all when only is empty).
func selectFiles(files []*nab.File, only []string) ([]*nab.File, error) {
	if len(only) == 0 {
		return files, nil
	}
	byName := map[string]*nab.File{}
	for _, f := range files {
		byName[f.Name] = f
	}
	var out []*nab.File
	for _, name := range only {
		f, ok := byName[name]
		if !ok {
			return nil, fmt.Errorf("--file %s: not in the corpus's labels", name)
		}
		out = append(out, f)
	}
	return out, nil
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

// pipelineEval is what `eval nab --pipeline` runs.
type pipelineEval struct {
	path, model, mqttURL, natsURL, subject string
	perFile                                bool
	g                                      *globalOptions
}

// evalPipeline scores the pipeline through the engine and brokers, and the
// same models in Go, for fp32 and int8 (or the one --model).
func evalPipeline(ctx context.Context, out io.Writer, files []*nab.File, base nab.EvalConfig, pe pipelineEval) error {
	st, err := replay.Settings(pe.path)
	if err != nil {
		return err
	}
	st.Thresholds, base.Window = base.Thresholds, st.Window
	type variant struct{ name, label string }
	variants := []variant{{"fp32", "fp32"}, {"int8", "int8"}}
	data := map[string][]byte{}
	if pe.model != "" {
		m, err := os.ReadFile(pe.model)
		if err != nil {
			return err
		}
		if w := anomaly.WindowOf(m); w != st.Window {
			return fmt.Errorf("--model %s takes windows of %d, the pipeline makes windows of %d", pe.model, w, st.Window)
		}
		variants, data["model"] = []variant{{"model", filepath.Base(pe.model)}}, m
	} else if data["fp32"], data["int8"], err = trainGlobalPair(files, base); err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "edgeflow-eval-nab-models-*")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	log, err := pe.g.logger("warn", "console")
	if err != nil {
		return err
	}

	type row struct {
		model, path string
		res         *nab.EvalResult
		took        time.Duration
	}
	var rows []row
	for _, v := range variants {
		file := filepath.Join(dir, v.name+".onnx")
		if err := os.WriteFile(file, data[v.name], 0o644); err != nil {
			return err
		}
		r, done, err := ortReconstructor(data[v.name])
		if err != nil {
			return err
		}
		goCfg, stageCfg := base, st
		goCfg.Model, goCfg.Runtime, stageCfg.Model = r, nil, r
		t0 := time.Now()
		resGo, err := nab.Evaluate(files, goCfg)
		t1 := time.Now()
		var resStage *nab.EvalResult
		if err == nil {
			resStage, err = nab.Evaluate(files, stageCfg)
		}
		t2 := time.Now()
		done()
		if err != nil {
			return err
		}
		rep, err := replay.Run(ctx, files, replay.Options{Pipeline: pe.path, Model: file,
			MQTTURL: pe.mqttURL, NATSURL: pe.natsURL, Subject: pe.subject, Logger: log})
		if err != nil {
			return err
		}
		t3 := time.Now()
		resPipe, err := nab.Summarize(files, rep.Scores, st)
		if err != nil {
			return err
		}
		d := compareScores(resStage.Scores, rep.Scores)
		fmt.Fprintf(out, "%s through %s: %d readings in, %d scores out (%.0f readings/s), %d duplicate, %d unplaced, %d dead-lettered; "+
			"vs Go with the pipeline's settings: %d of %d rows differ in readiness, %d in score by > 1e-6 (largest %.2g)\n",
			v.label, pe.path, rep.Readings, rep.Messages, float64(rep.Readings)/rep.Elapsed.Seconds(),
			rep.Duplicates, rep.Unmatched, rep.DeadLettered, d.ready, d.rows, d.score, d.max)
		if len(rep.Incomplete) > 0 {
			fmt.Fprintf(out, "  no score for the last row of: %s\n", strings.Join(rep.Incomplete, ", "))
		}
		rows = append(rows,
			row{v.label, "Go (eval nab)", resGo, t1.Sub(t0)},
			row{v.label, "Go, pipeline settings", resStage, t2.Sub(t1)},
			row{v.label, "pipeline (MQTT→NATS)", resPipe, t3.Sub(t2)})
	}

	fmt.Fprintf(out, "\n%d files; alert threshold swept, best per profile\n", len(files))
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "model\tdetector\tstandard\treward_low_FP\treward_low_FN\traw standard\ttime\t")
	for _, r := range rows {
		a := r.res.Alerts
		fmt.Fprintf(tw, "%s\t%s\t%.1f\t%.1f\t%.1f\t%.1f\t%s\t\n", r.model, r.path,
			a[0].Normalized, a[1].Normalized, a[2].Normalized, r.res.Raw[0].Normalized, r.took.Round(100*time.Millisecond))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if pe.perFile {
		for _, r := range rows {
			fmt.Fprintf(out, "\n%s, %s:\n", r.model, r.path)
			if err := printEval(out, r.res, true); err != nil {
				return err
			}
		}
	}
	return nil
}

// scoreDiff counts the rows where two detectors' outputs differ.
type scoreDiff struct {
	rows, ready, score int
	max                float64
}

func compareScores(a, b [][]anomaly.Score) scoreDiff {
	var d scoreDiff
	for i := range a {
		for r := range a[i] {
			d.rows++
			x, y := a[i][r], b[i][r]
			if x.Ready != y.Ready {
				d.ready++
				continue
			}
			if diff := math.Abs(x.Score - y.Score); diff > 1e-6 {
				d.score++
				d.max = max(d.max, diff)
			}
		}
	}
	return d
}
