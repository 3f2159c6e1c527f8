package eval

import (
	"fmt"
	"io"
	"os"
	"text/tabwriter"
	"time"

	"github.com/edgeflow/edgeflow/anomaly"
	"github.com/edgeflow/edgeflow/anomaly/nab"
	"github.com/edgeflow/edgeflow/models"
)

// Runtimes of NABOptions.Runtime.
const (
	// ORT runs the trained autoencoders with ONNX Runtime.
	ORT = "ort"
	// Go runs them with the Go forward pass.
	Go = "go"
)

// NABOptions say what NAB scores and how (edgeflow eval nab).
type NABOptions struct {
	// Config is the detector: window, mode, training and the alert
	// thresholds to sweep. NAB sets its Model and Runtime.
	Config nab.EvalConfig
	// Runtime runs trained models: ORT (the default) or Go.
	Runtime string
	// Library is the ONNX Runtime library ("": found as models.Init does).
	Library string
	// Model, when set, is an ONNX model file (fp32 or int8) scored instead
	// of training one.
	Model string
	// Int8 also quantises the pretrained model (static QDQ, calibrated on
	// its synthetic training windows) and scores both through ONNX Runtime.
	Int8 bool
	// PerFile also prints each file's standard-profile result.
	PerFile bool
	// Results, when set, is a folder to write NAB results files to (see
	// WriteResults), for detector "edgeflow" (with Int8: "edgeflowFp32"
	// and "edgeflowInt8").
	Results string
	// LOCO also prints a leave-one-category-out check of the alerts
	// (LeaveOneCategoryOut) for each model scored.
	LOCO bool
}

// NAB runs the anomaly detector (window → per-sensor normalisation →
// autoencoder → likelihoods → alerts) over files online and writes their
// NAB scores to out: with one model pre-trained on synthetic series or one
// per file on its own probation (the configured mode), or the given model,
// or the pretrained model in fp32 and int8. anomaly/replay's Evaluate
// scores a pipeline instead.
func NAB(out io.Writer, files []*nab.File, o NABOptions) error {
	cfg := o.Config
	runtime := o.Runtime
	if runtime == "" {
		runtime = ORT
	}
	if runtime != ORT && runtime != Go {
		return fmt.Errorf("eval: runtime %q: want %s or %s", runtime, ORT, Go)
	}
	useORT := runtime == ORT
	if useORT || o.Model != "" || o.Int8 {
		if err := models.Init(o.Library); err != nil {
			return err
		}
	}
	if useORT {
		cfg.Runtime = ortRuntime
	}
	if o.Model != "" {
		data, err := os.ReadFile(o.Model)
		if err != nil {
			return err
		}
		r, done, err := ORTReconstructor(data)
		if err != nil {
			return err
		}
		defer done()
		cfg.Model, cfg.Window = r, anomaly.WindowOf(data)
		return runEval(out, files, cfg, "model "+o.Model, o, "edgeflow")
	}
	if !o.Int8 {
		return runEval(out, files, cfg, fmt.Sprintf("%s autoencoder, %s", cfg.Mode, runtime), o, "edgeflow")
	}
	if cfg.Mode != nab.Pretrained {
		return fmt.Errorf("eval: int8 needs the pretrained mode, not %q", cfg.Mode)
	}
	fp32, int8Model, err := TrainPretrainedPair(cfg)
	if err != nil {
		return err
	}
	for _, m := range []struct {
		name, detector string
		data           []byte
	}{{"fp32 (ORT)", "edgeflowFp32", fp32}, {"int8 (ORT)", "edgeflowInt8", int8Model}} {
		r, done, err := ORTReconstructor(m.data)
		if err != nil {
			return err
		}
		c := cfg
		c.Model, c.Runtime = r, nil
		err = runEval(out, files, c, "pretrained autoencoder "+m.name, o, m.detector)
		done()
		if err != nil {
			return err
		}
	}
	return nil
}

// SelectFiles keeps the files named (all when names is empty), in the
// order named.
func SelectFiles(files []*nab.File, names []string) ([]*nab.File, error) {
	if len(names) == 0 {
		return files, nil
	}
	byName := map[string]*nab.File{}
	for _, f := range files {
		byName[f.Name] = f
	}
	var out []*nab.File
	for _, name := range names {
		f, ok := byName[name]
		if !ok {
			return nil, fmt.Errorf("%s: not in the corpus's labels", name)
		}
		out = append(out, f)
	}
	return out, nil
}

func runEval(out io.Writer, files []*nab.File, cfg nab.EvalConfig, label string, o NABOptions, detector string) error {
	start := time.Now()
	res, err := nab.Evaluate(files, cfg)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "%s: %d files, %s\n", label, len(files), time.Since(start).Round(time.Millisecond))
	if err := PrintResult(out, res, o.PerFile); err != nil {
		return err
	}
	if o.LOCO {
		ls, err := LeaveOneCategoryOut(files, res.Scores, ShippedAlert(cfg), cfg.Thresholds)
		if err != nil {
			return err
		}
		if err := PrintLOCO(out, ls); err != nil {
			return err
		}
	}
	if o.Results == "" {
		return nil
	}
	return WriteResults(out, o.Results, detector, files, res.Scores, ShippedAlert(cfg))
}

// ShippedAlert is the alerter a detector configured as cfg runs with
// outside the sweep: cfg.Score.Alert, a zero Threshold being the anomaly
// stage's default.
func ShippedAlert(cfg nab.EvalConfig) anomaly.AlertConfig {
	a := cfg.Score.Alert
	if a.Threshold <= 0 {
		a.Threshold = anomaly.DefaultThreshold
	}
	return a
}

// PrintResult prints a result's three profiles as a table (and, with
// perFile, each file's standard-profile result).
func PrintResult(out io.Writer, res *nab.EvalResult, perFile bool) error {
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

// TrainPretrainedPair trains the pretrained model on synthetic windows
// (nab.PretrainWindows of them; cfg's window and training settings, no
// file's data) and quantises it, calibrated on the same windows; it returns
// both serialised.
func TrainPretrainedPair(cfg nab.EvalConfig) (fp32, int8Model []byte, err error) {
	wins := anomaly.SyntheticWindows(nab.PretrainWindows, cfg.Window, cfg.Train.Seed)
	ae, _, err := anomaly.Train(wins, cfg.Train)
	if err != nil {
		return nil, nil, err
	}
	return anomaly.ExportPair(ae, wins, nil)
}
