package replay

import (
	"context"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/edgeflow/edgeflow/anomaly"
	"github.com/edgeflow/edgeflow/anomaly/eval"
	"github.com/edgeflow/edgeflow/anomaly/nab"
	"github.com/rs/zerolog"
)

// EvalOptions say how Evaluate scores a pipeline file.
type EvalOptions struct {
	// Path is the pipeline file.
	Path string
	// Model, when set, is the one ONNX model scored (instead of a trained
	// global model and its int8 version).
	Model string
	// MQTTURL and NATSURL are the brokers to use (default: the pipeline's
	// embedded MQTT broker on a free port, an in-process nats-server);
	// Subject is where the pipeline publishes its scores.
	MQTTURL, NATSURL, Subject string
	// PerFile also prints each file's standard-profile results.
	PerFile bool
	// Results, when set, is a folder to write the pipeline's NAB results
	// files to (eval.WriteResults), as detector "edgeflowPipelineFp32" and
	// "edgeflowPipelineInt8" (with Model: "edgeflowPipeline"), the alert
	// column at the pipeline file's threshold.
	Results string
	// LOCO also prints a leave-one-category-out check of the pipeline's
	// alerts (eval.LeaveOneCategoryOut) for each model.
	LOCO bool
	// Logger receives the pipeline's logs (default: none).
	Logger zerolog.Logger
}

// Evaluate scores the pipeline through the engine and brokers (Run), and
// the same models in Go, for fp32 and int8 (or the one EvalOptions.Model),
// and writes the comparison to out (edgeflow eval nab --pipeline): the
// global model is trained on every file's probationary windows (base's
// training settings) and quantised; the Go runs use base's settings and,
// as a check, the pipeline's own, which should match the pipeline row for
// row.
func Evaluate(ctx context.Context, out io.Writer, files []*nab.File, base nab.EvalConfig, pe EvalOptions) error {
	st, err := Settings(pe.Path)
	if err != nil {
		return err
	}
	st.Thresholds, base.Window = base.Thresholds, st.Window
	type variant struct{ name, label, detector string }
	variants := []variant{{"fp32", "fp32", "edgeflowPipelineFp32"}, {"int8", "int8", "edgeflowPipelineInt8"}}
	data := map[string][]byte{}
	if pe.Model != "" {
		m, err := os.ReadFile(pe.Model)
		if err != nil {
			return err
		}
		if w := anomaly.WindowOf(m); w != st.Window {
			return fmt.Errorf("--model %s takes windows of %d, the pipeline makes windows of %d", pe.Model, w, st.Window)
		}
		variants, data["model"] = []variant{{"model", filepath.Base(pe.Model), "edgeflowPipeline"}}, m
	} else if data["fp32"], data["int8"], err = eval.TrainPretrainedPair(base); err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "edgeflow-eval-nab-models-*")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

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
		r, done, err := eval.ORTReconstructor(data[v.name])
		if err != nil {
			return err
		}
		goCfg, stageCfg := base, st
		goCfg.Model, goCfg.Runtime, stageCfg.Model = r, nil, r
		t0 := time.Now()
		resGo, err := nab.Evaluate(files, goCfg)
		if err == nil {
			resGo.Scores = nil // only its summary is printed
		}
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
		rep, err := Run(ctx, files, Options{Pipeline: pe.Path, Model: file,
			MQTTURL: pe.MQTTURL, NATSURL: pe.NATSURL, Subject: pe.Subject, Logger: pe.Logger})
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
			v.label, pe.Path, rep.Readings, rep.Messages, float64(rep.Readings)/rep.Elapsed.Seconds(),
			rep.Duplicates, rep.Unmatched, rep.DeadLettered, d.ready, d.rows, d.score, d.max)
		if len(rep.Incomplete) > 0 {
			fmt.Fprintf(out, "  no score for the last row of: %s\n", strings.Join(rep.Incomplete, ", "))
		}
		if pe.LOCO {
			ls, err := eval.LeaveOneCategoryOut(files, rep.Scores, eval.ShippedAlert(st), st.Thresholds)
			if err != nil {
				return err
			}
			fmt.Fprintf(out, "%s through the pipeline: ", v.label)
			if err := eval.PrintLOCO(out, ls); err != nil {
				return err
			}
		}
		if pe.Results != "" {
			if err := eval.WriteResults(out, pe.Results, v.detector, files, rep.Scores, eval.ShippedAlert(st)); err != nil {
				return err
			}
		}
		// Only the summaries are printed from here on: let the per-row
		// scores go, so that memory does not grow with the variants.
		resGo.Scores, resStage.Scores, resPipe.Scores, rep.Scores = nil, nil, nil, nil
		rows = append(rows,
			row{v.label, "Go (eval nab)", resGo, t1.Sub(t0)},
			row{v.label, "Go, pipeline settings", resStage, t2.Sub(t1)},
			row{v.label, "pipeline (MQTT→NATS)", resPipe, t3.Sub(t2)})
	}

	fmt.Fprintf(out, "\n%d files; alert threshold swept, best per profile (standard/low-FP/low-FN), and at the pipeline's threshold %.3f\n",
		len(files), st.Score.Alert.Threshold)
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "model\tdetector\tstandard\treward_low_FP\treward_low_FN\tbest thresholds\tat pipeline threshold\tFP alerts\ttime\t")
	for _, r := range rows {
		a, fx := r.res.Alerts, r.res.Fixed
		fixed, fps := "-", 0
		if len(fx) == 3 {
			fixed = fmt.Sprintf("%.1f/%.1f/%.1f", fx[0].Normalized, fx[1].Normalized, fx[2].Normalized)
			for _, f := range fx[0].Files {
				fps += f.FP
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%.1f\t%.1f\t%.1f\t%.3f/%.3f/%.3f\t%s\t%d\t%s\t\n", r.model, r.path,
			a[0].Normalized, a[1].Normalized, a[2].Normalized, r.res.AlertThreshold[0], r.res.AlertThreshold[1], r.res.AlertThreshold[2],
			fixed, fps, r.took.Round(100*time.Millisecond))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if pe.PerFile {
		for _, r := range rows {
			fmt.Fprintf(out, "\n%s, %s:\n", r.model, r.path)
			if err := eval.PrintResult(out, r.res, true); err != nil {
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
