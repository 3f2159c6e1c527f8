package main

import (
	"encoding/json"
	"fmt"
	"text/tabwriter"

	anomalyeval "github.com/edgeflow/edgeflow/anomaly/eval"
	"github.com/edgeflow/edgeflow/models"
	"github.com/edgeflow/edgeflow/models/compare"
	visioneval "github.com/edgeflow/edgeflow/vision/eval"
	"github.com/spf13/cobra"
)

// compareOptions are the flags of model compare.
type compareOptions struct {
	data, task, detector string
	threshold            float32
	optimization         string
	repeat, threads      int
	json                 bool
	config               map[string]string
	input                dataFlags
}

// newModelCompareCmd builds model compare.
func newModelCompareCmd(m *modelOptions) *cobra.Command {
	f := &compareOptions{}
	cmd := &cobra.Command{
		Use:   "compare A B --data DATA",
		Short: "Run two models on the same data: size, speed, output error, task agreement",
		Long: `compare runs model B against reference model A on the same samples and
prints size, p50 latency, speed-up, output RMSE and max abs error, and task
agreement: top-1 for classifiers, matched detections (IoU >= 0.5, same class)
for detectors (--detector yolox|nanodet|ultraface|blazeface), Spearman rank correlation of
reconstruction-error scores for autoencoders.`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := m.initRuntime(); err != nil {
				return err
			}
			if f.data == "" {
				return fmt.Errorf("--data is required")
			}
			d := f.input
			if d.preprocess == "" && f.detector != "" {
				d.preprocess = f.detector
			}
			samples, err := loadSamples(args[0], f.data, d)
			if err != nil {
				return err
			}
			task, err := compareTask(f.task, f.detector, f.threshold, args[0])
			if err != nil {
				return err
			}
			pr := newProgress(cmd.ErrOrStderr())
			res, err := compare.Files(args[0], args[1], samples, compare.Options{Task: task, Repeat: f.repeat,
				Runtime:  models.Options{IntraOpThreads: f.threads, Optimization: f.optimization, ConfigEntries: f.config},
				Progress: func(done, total int) { pr.Step("comparing (samples)", done, total) }})
			pr.Finish()
			if err != nil {
				return err
			}
			det, _ := res.Verdict.(*visioneval.Detections)
			w := cmd.OutOrStdout()
			if f.json {
				enc := json.NewEncoder(w)
				enc.SetIndent("", "  ")
				return enc.Encode(newCompareJSON(res, det))
			}
			tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
			fmt.Fprintf(tw, "\tA\tB\tB/A\n")
			fmt.Fprintf(tw, "file\t%s\t%s\t\n", res.A.Path, res.B.Path)
			fmt.Fprintf(tw, "size\t%d\t%d\t%.3f\n", res.A.Size, res.B.Size, res.SizeRatio)
			fmt.Fprintf(tw, "latency p50 (ms)\t%.3f\t%.3f\t%.3f\n", res.A.LatencyP50, res.B.LatencyP50, 1/res.Speedup)
			fmt.Fprintf(tw, "throughput (/s)\t%.1f\t%.1f\t%.2fx\n", res.A.Throughput, res.B.Throughput, res.Speedup)
			fmt.Fprintf(tw, "output RMSE\t\t%.4g\t(rel %.2f%%)\n", res.RMSE, 100*res.RelRMSE)
			fmt.Fprintf(tw, "output max abs\t\t%.4g\t\n", res.MaxAbs)
			switch {
			case det != nil:
				fmt.Fprintf(tw, "detections\t%d\t%d\tmatched %d (recall %.1f%%, precision %.1f%%)\n",
					det.A, det.B, det.Matched, 100*det.Recall(), 100*det.Precision())
				fmt.Fprintf(tw, "agreement\t\t%.1f%%\t\n", 100*res.Agreement)
				fmt.Fprintf(tw, "disagreements\t\t%d\t%d scored within %.2f of the threshold\n",
					det.A+det.B-2*det.Matched, det.Near, visioneval.NearMargin)
			case res.Task == compare.Classify.Name():
				fmt.Fprintf(tw, "top-1 agreement\t\t%.1f%%\t\n", 100*res.Agreement)
			case res.Task == anomalyeval.Reconstruction.Name():
				fmt.Fprintf(tw, "score rank correlation\t\t%.4f\t\n", res.Agreement)
			}
			fmt.Fprintf(tw, "samples\t%d\t\t\n", res.Samples)
			return tw.Flush()
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.data, "data", "", "image folder, image, .csv or .jsonl of vectors, or nab:GLOB of timestamp,value series")
	fl.StringVar(&f.task, "task", "", "classify, detect, anomaly or none (default: guessed)")
	fl.StringVar(&f.detector, "detector", "", "detection decoder: yolox, nanodet, ultraface or blazeface")
	fl.Float32Var(&f.threshold, "threshold", 0.3, "detection score threshold")
	fl.IntVar(&f.repeat, "repeat", 3, "timed runs per sample")
	fl.IntVar(&f.threads, "threads", 0, "intra-op threads for both models (0: ORT default)")
	fl.StringVar(&f.optimization, "optimization", "all", "graph optimisation level for both models: disable, basic, extended, all")
	fl.BoolVar(&f.json, "json", false, "print JSON")
	fl.StringToStringVar(&f.config, "session-config", nil, "ORT session config entries for both models, e.g. session.disable_quant_qdq=1 (folds a weight-only model to float weights)")
	addDataFlags(cmd, &f.input)
	return cmd
}

// compareTask is the task --task names, or with --task "" the first that
// fits model A: detection when --detector is given, else anomaly scores
// for an autoencoder, else top-1 class for a classifier, else none.
func compareTask(name, detector string, threshold float32, modelA string) (compare.Task, error) {
	detect := visioneval.Detect{Decoder: detector, Threshold: threshold}
	switch name {
	case "detect":
		if detector == "" {
			return nil, fmt.Errorf("compare: detection needs a detector (yolox, nanodet, ultraface or blazeface)")
		}
		return detect, nil
	case "classify":
		return compare.Classify, nil
	case "anomaly":
		return anomalyeval.Reconstruction, nil
	case "none":
		return compare.None, nil
	case "":
	default:
		return nil, fmt.Errorf("compare: unknown task %q", name)
	}
	if detector != "" {
		return detect, nil
	}
	info, err := models.Inspect(modelA)
	if err != nil {
		return nil, err
	}
	return compare.Pick(info, anomalyeval.Reconstruction, compare.Classify), nil
}

// compareJSON is model compare's JSON: the result with a detection
// verdict's counts in place.
type compareJSON struct {
	A, B compareSideJSON
	*compare.Result
	Matched   int     `json:"matched,omitempty"`
	Recall    float64 `json:"recall,omitempty"`
	Precision float64 `json:"precision,omitempty"`
	// NearThreshold counts the disagreements scored close to the
	// detection threshold (visioneval.Detections.Near).
	NearThreshold int `json:"near_threshold,omitempty"`
}

type compareSideJSON struct {
	compare.Side
	Detections int `json:"detections,omitempty"`
}

func newCompareJSON(res *compare.Result, det *visioneval.Detections) compareJSON {
	out := compareJSON{A: compareSideJSON{Side: res.A}, B: compareSideJSON{Side: res.B}, Result: res}
	if det != nil {
		out.A.Detections, out.B.Detections = det.A, det.B
		out.Matched, out.Recall, out.Precision = det.Matched, det.Recall(), det.Precision()
		out.NearThreshold = det.Near
	}
	return out
}
