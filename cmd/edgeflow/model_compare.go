package main

import (
	"encoding/json"
	"fmt"
	"text/tabwriter"

	"github.com/edgeflow/edgeflow/models"
	"github.com/edgeflow/edgeflow/models/compare"
	"github.com/spf13/cobra"
)

// compareOptions are the flags of model compare.
type compareOptions struct {
	data, task, detector string
	threshold            float32
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
for detectors (--detector yolox|nanodet|ultraface), Spearman rank correlation of
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
			res, err := compare.Files(args[0], args[1], samples, compare.Options{Task: compare.Task(f.task),
				Detector: f.detector, Threshold: f.threshold, Repeat: f.repeat,
				Runtime: models.Options{IntraOpThreads: f.threads, ConfigEntries: f.config}})
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			if f.json {
				enc := json.NewEncoder(w)
				enc.SetIndent("", "  ")
				return enc.Encode(res)
			}
			tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
			fmt.Fprintf(tw, "\tA\tB\tB/A\n")
			fmt.Fprintf(tw, "file\t%s\t%s\t\n", res.A.Path, res.B.Path)
			fmt.Fprintf(tw, "size\t%d\t%d\t%.3f\n", res.A.Size, res.B.Size, res.SizeRatio)
			fmt.Fprintf(tw, "latency p50 (ms)\t%.3f\t%.3f\t%.3f\n", res.A.LatencyP50, res.B.LatencyP50, 1/res.Speedup)
			fmt.Fprintf(tw, "throughput (/s)\t%.1f\t%.1f\t%.2fx\n", res.A.Throughput, res.B.Throughput, res.Speedup)
			fmt.Fprintf(tw, "output RMSE\t\t%.4g\t(rel %.2f%%)\n", res.RMSE, 100*res.RelRMSE)
			fmt.Fprintf(tw, "output max abs\t\t%.4g\t\n", res.MaxAbs)
			switch res.Task {
			case compare.TaskDetect:
				fmt.Fprintf(tw, "detections\t%d\t%d\tmatched %d (recall %.1f%%, precision %.1f%%)\n",
					res.A.Detections, res.B.Detections, res.Matched, 100*res.Recall, 100*res.Precision)
				fmt.Fprintf(tw, "agreement\t\t%.1f%%\t\n", 100*res.Agreement)
			case compare.TaskClassify:
				fmt.Fprintf(tw, "top-1 agreement\t\t%.1f%%\t\n", 100*res.Agreement)
			case compare.TaskAnomaly:
				fmt.Fprintf(tw, "score rank correlation\t\t%.4f\t\n", res.Agreement)
			}
			fmt.Fprintf(tw, "samples\t%d\t\t\n", res.Samples)
			return tw.Flush()
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.data, "data", "", "image folder, image, .csv or .jsonl of vectors, or nab:GLOB of timestamp,value series")
	fl.StringVar(&f.task, "task", "", "classify, detect, anomaly or none (default: guessed)")
	fl.StringVar(&f.detector, "detector", "", "detection decoder: yolox, nanodet or ultraface")
	fl.Float32Var(&f.threshold, "threshold", 0.3, "detection score threshold")
	fl.IntVar(&f.repeat, "repeat", 3, "timed runs per sample")
	fl.IntVar(&f.threads, "threads", 0, "intra-op threads for both models (0: ORT default)")
	fl.BoolVar(&f.json, "json", false, "print JSON")
	fl.StringToStringVar(&f.config, "session-config", nil, "ORT session config entries for both models, e.g. session.disable_quant_qdq=1 (folds a weight-only model to float weights)")
	addDataFlags(cmd, &f.input)
	return cmd
}
