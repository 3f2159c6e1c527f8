package eval

import (
	"fmt"
	"io"
	"path/filepath"

	"github.com/edgeflow/edgeflow/anomaly"
	"github.com/edgeflow/edgeflow/anomaly/nab"
)

// WriteResults writes a detector's per-row outputs (scores[i] for files[i])
// as NAB results files under dir/detector (see nab.WriteResults), the alert
// column at the alerter settings ac (a zero Threshold is the alerter's
// default, the anomaly stage's), and prints where they went and the NAB
// scores of that alert column, which is what the detector would report as
// shipped (eval nab's table sweeps the threshold instead).
func WriteResults(out io.Writer, dir, detector string, files []*nab.File, scores [][]anomaly.Score, ac anomaly.AlertConfig) error {
	if len(scores) != len(files) {
		return fmt.Errorf("eval: %d score series for %d files", len(scores), len(files))
	}
	for i, f := range files {
		if _, err := nab.WriteResults(dir, detector, f, scores[i], ac); err != nil {
			return err
		}
	}
	threshold := anomaly.NewAlerter(ac).Config().Threshold
	alerts := nab.AlertSeries(scores, ac)
	fmt.Fprintf(out, "results: %d files in %s; their alert column (threshold %.3f) scores", len(files), filepath.Join(dir, detector), threshold)
	for _, p := range nab.Profiles {
		r, err := nab.Score(files, alerts, p)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, " %s %.1f", p.Name, r.Normalized)
	}
	fmt.Fprintln(out)
	return nil
}
