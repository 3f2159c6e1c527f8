package eval

import (
	"fmt"
	"io"
	"os"
	"strconv"

	"github.com/edgeflow/edgeflow/anomaly"
	"github.com/edgeflow/edgeflow/anomaly/nab"
	"github.com/edgeflow/edgeflow/models"
)

// TrainOptions say what Train learns from and where it writes the models
// (edgeflow model train anomaly).
type TrainOptions struct {
	// CSVs are timestamp,value files, one sensor each.
	CSVs []string
	// Synthetic, when positive, trains on this many windows of synthetic
	// series (anomaly.SyntheticWindows) instead of CSVs: a model that has
	// seen no real sensor, as the anomaly example ships.
	Synthetic int
	// Normal is the leading fraction of each file, in (0, 1], that is
	// known to be normal and trained on.
	Normal float64
	// Window is the window length in readings; Epochs and Seed tune the
	// training (anomaly.TrainConfig).
	Window, Epochs int
	Seed           uint64
	// Hidden are the hidden layer widths (default anomaly.TrainConfig's,
	// 16, 4, 16).
	Hidden []int
	// Teacher, when set, is an fp32 ONNX autoencoder (as Train writes) whose
	// reconstructions the new model learns to give (anomaly.Distill)
	// instead of the windows themselves.
	Teacher string
	// MaxSamples caps the training windows (default anomaly.TrainConfig's).
	MaxSamples int
	// Out is where the float32 ONNX model goes; Int8Out, when set, where
	// its statically quantised version (calibrated on the training
	// windows) goes, for which ONNX Runtime is loaded from Library.
	Out, Int8Out string
	Library      string
	// Progress, if set, is called after each training epoch with how
	// many are done out of how many.
	Progress func(done, total int)
}

// Train fits the anomaly autoencoder to the normal part of every file:
// windows of o.Window readings, each sensor z-scored by its own statistics
// over that part. It writes the model(s) and reports them on w.
func Train(w io.Writer, o TrainOptions) error {
	if o.Normal <= 0 || o.Normal > 1 {
		return fmt.Errorf("train: normal fraction %v: want a fraction in (0, 1]", o.Normal)
	}
	var wins [][]float32
	if o.Synthetic > 0 {
		wins = anomaly.SyntheticWindows(o.Synthetic, o.Window, o.Seed)
	}
	for _, path := range o.CSVs {
		f, err := nab.ReadFile(path)
		if err != nil {
			return err
		}
		n := int(o.Normal * float64(len(f.Values)))
		z := &anomaly.Normalizer{}
		for _, v := range f.Values[:n] {
			z.Observe(v)
		}
		wins = append(wins, anomaly.Windows(f.Values, 0, n, o.Window, z)...)
	}
	if len(wins) == 0 {
		return fmt.Errorf("no window of %d readings in the normal part of the data", o.Window)
	}
	tc := anomaly.TrainConfig{Hidden: o.Hidden, Epochs: o.Epochs, Seed: o.Seed, MaxSamples: o.MaxSamples, Progress: o.Progress}
	meta := map[string]string{"edgeflow.seed": strconv.FormatUint(o.Seed, 10)}
	var ae *anomaly.Autoencoder
	var res anomaly.TrainResult
	var err error
	if o.Teacher != "" {
		data, err := os.ReadFile(o.Teacher)
		if err != nil {
			return fmt.Errorf("train: teacher: %w", err)
		}
		teacher, err := anomaly.ReadONNX(data)
		if err != nil {
			return fmt.Errorf("train: teacher %s: %w", o.Teacher, err)
		}
		if ae, res, err = anomaly.Distill(teacher, wins, tc); err != nil {
			return err
		}
		meta["edgeflow.teacher"] = fmt.Sprint(teacher.Widths())
		fmt.Fprintf(w, "distilled from the teacher %s, %v (%d parameters), into %v (%d parameters); the loss is against its reconstructions\n",
			o.Teacher, teacher.Widths(), teacher.Params(), ae.Widths(), ae.Params())
	} else if ae, res, err = anomaly.Train(wins, tc); err != nil {
		return err
	}
	meta["edgeflow.samples"] = strconv.Itoa(res.Samples)
	var fp32, q []byte
	if o.Int8Out != "" {
		if err := models.Init(o.Library); err != nil {
			return err
		}
		fp32, q, err = anomaly.ExportPair(ae, wins, meta)
	} else {
		fp32, err = ae.MarshalONNX(meta)
	}
	if err != nil {
		return err
	}
	if err := os.WriteFile(o.Out, fp32, 0o644); err != nil {
		return err
	}
	fmt.Fprintf(w, "trained %v on %d windows: loss %.4f → %.4f; wrote %s (%d bytes)\n",
		ae.Widths(), res.Samples, res.Initial, res.Loss[len(res.Loss)-1], o.Out, len(fp32))
	if q != nil {
		if err := os.WriteFile(o.Int8Out, q, 0o644); err != nil {
			return err
		}
		fmt.Fprintf(w, "wrote %s (%d bytes, int8)\n", o.Int8Out, len(q))
	}
	return nil
}
