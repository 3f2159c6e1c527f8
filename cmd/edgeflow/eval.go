package main

import (
	"fmt"
	"os"
	"runtime/debug"
	"strconv"
	"strings"

	"github.com/edgeflow/edgeflow/anomaly"
	anomalyeval "github.com/edgeflow/edgeflow/anomaly/eval"
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
		data, mode, model, runtime, lib, thresholds  string
		pipeline, mqttURL, natsURL, subject, results string
		settings                                     string
		only                                         []string
		window, epochs                               int
		seed                                         uint64
		int8, files, loco                            bool
	}
	nabCmd := &cobra.Command{
		Use:   "nab",
		Short: "Run the anomaly detector over a NAB corpus online and print its NAB scores",
		Long: `nab runs edgeflow's anomaly detector (window → per-sensor normalisation →
autoencoder → likelihood → alerts, the code the window, onnx and anomaly stages run) over
every file of a NAB-format corpus, row by row, and prints the NAB score for the standard,
reward_low_FP_rate and reward_low_FN_rate profiles.

Each file is handled as a pipeline with default anomaly stages handles a sensor: the
normaliser learns from its first 50 windows and then follows it (half-life 500 readings),
and the scorer adapts per stream (see edgeflow components anomaly). Unless --model is given, the autoencoder is trained on
synthetic series (--mode pretrained: it sees no file's data) or on each file's own
probationary period (--mode per-sensor). As NAB optimises each
detector's threshold over the corpus, the alert threshold is swept and the best is shown
per profile; "raw" is the log-likelihood itself without the alerter (no rest period after an alert).

With --int8 the pretrained model is also quantised (static QDQ, calibrated on the training
windows) and both are scored through ONNX Runtime.

With --pipeline FILE the detector is the pipeline itself, run by the engine: the pretrained model
is trained (or --model taken), quantised, and for fp32 and int8 in turn the pipeline is built
with MQTT_URL, NATS_URL, ANOMALY_MODEL and ANOMALY_EMIT=all set, every file's rows are
published to MQTT as ` + "`edgeflow simulate`" + ` does (topic plant/<file name>/reading, JSON
{"value", "ts"}: ts is the row's time), and the per-window scores the pipeline publishes on
NATS (--subject) are placed on their rows by sensor and time and scored. Without --mqtt-url
the pipeline's embedded broker runs on a free port; without --nats-url an in-process
nats-server (JetStream in a temporary directory) does. The same models are also scored in Go,
both as without --pipeline and with the pipeline's own window and anomaly settings; the
latter should match the pipeline row for row.

With --results DIR the per-row outputs are also written as NAB results files, laid out as
NAB's results/ folder (DIR/<detector>/<category>/<detector>_<file>.csv, detector edgeflow,
edgeflowFp32 and edgeflowInt8 with --int8, edgeflowPipelineFp32 and edgeflowPipelineInt8
with --pipeline, edgeflowPipeline with --pipeline --model) with the columns
timestamp,value,anomaly_score,label,alert: anomaly_score is the log likelihood score NAB
sweeps (the "raw likelihood score" column), label is 1 inside the labelled windows, alert
is 1 where the alerter fires at the shipped threshold (the anomaly stage's default, or
the pipeline file's threshold); the NAB scores of that alert column are printed.

With --settings FILE (without --pipeline) the Go detector runs with that pipeline file's
window, normalisation and score settings, as the pipeline would (it matches the pipeline
row for row), without brokers.

With --loco a leave-one-category-out check follows each table: each category (the folder
of its files) is scored at the alert threshold chosen on the other categories, and the
held-out raw scores are summed and normalised as NAB normalises a corpus; with the
per-category scores at the shipped threshold and at each category's own best. A method
whose settings fit these files rather than the problem scores lower held out than
in-sample.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if os.Getenv("GOMEMLIMIT") == "" {
				// The threshold sweep and the pipeline allocate fast and
				// hold ~50 MB: without a limit the heap goal is twice that.
				defer debug.SetMemoryLimit(debug.SetMemoryLimit(evalMemoryLimit))
			}
			files, err := nab.LoadCorpus(o.data)
			if err != nil {
				return err
			}
			if files, err = anomalyeval.SelectFiles(files, o.only); err != nil {
				return usageError{fmt.Errorf("--file %w", err)}
			}
			pr := newProgress(cmd.ErrOrStderr())
			defer pr.Finish()
			// The Go path runs the stages' own per-stream settings
			// (normaliser warm-up and half-life, scorer), as a pipeline
			// with default anomaly stages does.
			cfg, err := replay.StageDefaults(o.window)
			if err != nil {
				return err
			}
			cfg.Mode, cfg.Train = o.mode, anomaly.TrainConfig{Epochs: o.epochs, Seed: o.seed}
			cfg.Progress = func(phase string, done, total int) { pr.Step(phase, done, total) }
			if o.mode == nab.Pretrained { // per sensor, files train at once: only the files are counted
				cfg.Train.Progress = func(done, total int) { pr.Step("training (epochs)", done, total) }
			}
			if o.thresholds != "" {
				if cfg.Thresholds, err = parseFloats(o.thresholds); err != nil {
					return usageError{fmt.Errorf("--thresholds: %w", err)}
				}
			}
			if o.runtime != anomalyeval.ORT && o.runtime != anomalyeval.Go {
				return usageError{fmt.Errorf("--runtime %q: want ort or go", o.runtime)}
			}
			out := cmd.OutOrStdout()
			if o.pipeline != "" {
				if o.mode != nab.Pretrained {
					return usageError{fmt.Errorf("--pipeline needs --mode pretrained")}
				}
				if err := models.Init(o.lib); err != nil {
					return err
				}
				log, err := g.logger("warn", "console")
				if err != nil {
					return err
				}
				return replay.Evaluate(cmd.Context(), out, files, cfg, replay.EvalOptions{Path: o.pipeline, Model: o.model,
					MQTTURL: o.mqttURL, NATSURL: o.natsURL, Subject: o.subject, PerFile: o.files, Results: o.results, LOCO: o.loco, Logger: log})
			}
			if o.settings != "" {
				st, err := replay.Settings(o.settings)
				if err != nil {
					return err
				}
				cfg.Window, cfg.NormWarmup, cfg.Clip, cfg.HalfLife, cfg.Score = st.Window, st.NormWarmup, st.Clip, st.HalfLife, st.Score
			}
			if o.int8 && o.model == "" && o.mode != nab.Pretrained {
				return usageError{fmt.Errorf("--int8 needs --mode pretrained")}
			}
			return anomalyeval.NAB(out, files, anomalyeval.NABOptions{Config: cfg, Runtime: o.runtime, Library: o.lib,
				Model: o.model, Int8: o.int8, PerFile: o.files, Results: o.results, LOCO: o.loco})
		},
	}
	f := nabCmd.Flags()
	f.StringVar(&o.data, "data", "../shared/data/nab", "NAB corpus: a folder with data/ and labels/combined_windows.json")
	f.StringVar(&o.mode, "mode", nab.Pretrained, "one model pre-trained on synthetic series (pretrained) or one per sensor (per-sensor)")
	f.IntVar(&o.window, "window", 16, "window length in readings")
	f.IntVar(&o.epochs, "epochs", 60, "training epochs")
	f.Uint64Var(&o.seed, "seed", 1, "training seed")
	f.StringVar(&o.runtime, "runtime", "ort", "run the model with ONNX Runtime (ort) or the Go forward pass (go)")
	f.StringVar(&o.model, "model", "", "score with this ONNX model (fp32 or int8) instead of training")
	f.BoolVar(&o.int8, "int8", false, "also quantise the pretrained model to int8 and score both")
	f.StringVar(&o.lib, "ort-lib", "", "path of libonnxruntime.so (default: $"+models.LibraryEnv+", .cache/onnxruntime, system paths)")
	f.StringVar(&o.thresholds, "thresholds", "", "comma-separated alert thresholds to sweep (default 0.1 to 0.95 by 0.025)")
	f.BoolVar(&o.files, "files", false, "print each file's standard-profile result")
	f.StringArrayVar(&o.only, "file", nil, "score only this file of the corpus (its name under data/, e.g. realKnownCause/nyc_taxi.csv; repeat for several)")
	f.StringVar(&o.results, "results", "", "also write NAB results files here: <dir>/<detector>/<category>/<detector>_<file>.csv (see below)")
	f.BoolVar(&o.loco, "loco", false, "also print a leave-one-category-out check: each category scored at the threshold the others choose (see above)")
	f.StringVar(&o.settings, "settings", "", "without --pipeline: run the Go detector with this pipeline file's window and anomaly settings (as the pipeline runs it)")
	f.StringVar(&o.pipeline, "pipeline", "", "score this pipeline file through the engine and brokers (see above)")
	f.StringVar(&o.mqttURL, "mqtt-url", "", "with --pipeline: the MQTT broker to use (default: the pipeline's embedded one on a free port)")
	f.StringVar(&o.natsURL, "nats-url", "", "with --pipeline: the NATS server to use (default: an in-process one)")
	f.StringVar(&o.subject, "subject", "plant.alerts.>", "with --pipeline: the NATS subject the pipeline publishes scores on")
	evalCmd.AddCommand(nabCmd)
	return evalCmd
}

// evalMemoryLimit is eval nab's soft limit on the Go heap (unless GOMEMLIMIT
// is set): it keeps `eval nab --pipeline` on the 18-file NAB subset at ~160 MB
// peak RSS instead of ~180 MB (BENCHMARKS.md).
const evalMemoryLimit = 100 << 20

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
