package replay_test

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/edgeflow/edgeflow/anomaly/nab"
	"github.com/edgeflow/edgeflow/anomaly/replay"
)

// TestEvaluateModel scores one model through the example pipeline and in
// Go, as `eval nab --pipeline --model` does: the pipeline and the Go
// detector with its settings agree on every row.
func TestEvaluateModel(t *testing.T) {
	files := corpus(t, "artificialWithAnomaly/art_daily_jumpsup.csv")
	path, _ := model(t, files, 16)
	var out bytes.Buffer
	dir := t.TempDir()
	err := replay.Evaluate(context.Background(), &out, files, nab.EvalConfig{Mode: nab.Pretrained},
		replay.EvalOptions{Path: pipelineFile, Model: path, PerFile: true, Results: dir})
	if err != nil {
		t.Fatal(err)
	}
	s := out.String()
	rows := strconv.Itoa(len(files[0].Values))
	summary := regexp.MustCompile(`^anomaly\.onnx through \S+: (\d+) readings in, \d+ scores out \(\d+ readings/s\), 0 duplicate, 0 unplaced, 0 dead-lettered; ` +
		`vs Go with the pipeline's settings: 0 of (\d+) rows differ in readiness, 0 in score by > 1e-6`).FindStringSubmatch(s)
	if summary == nil || summary[1] != rows || summary[2] != rows {
		t.Fatalf("summary line (want all %s rows in, none differing):\n%s", rows, s)
	}
	for _, detector := range []string{"Go (eval nab)", "Go, pipeline settings", "pipeline (MQTT→NATS)"} {
		if !regexp.MustCompile(`(?m)^\s+anomaly\.onnx\s+` + regexp.QuoteMeta(detector) + `(\s+-?[0-9.]+){3}\s+[0-9.]+/[0-9.]+/[0-9.]+\s`).MatchString(s) {
			t.Errorf("no scores for %s:\n%s", detector, s)
		}
	}
	if !strings.Contains(s, "\nanomaly.onnx, pipeline (MQTT→NATS):\n") {
		t.Errorf("no per-file results:\n%s", s)
	}
	checkResults(t, s, files, dir)
}

// checkResults reads back the pipeline's results files: one row per input
// row at its time, scores in [0,1], and an alert column that scores as
// printed, at the pipeline file's threshold.
func checkResults(t *testing.T, out string, files []*nab.File, dir string) {
	t.Helper()
	st, err := replay.Settings(pipelineFile)
	if err != nil {
		t.Fatal(err)
	}
	alerts := make([][]float64, len(files))
	for i, f := range files {
		rr, err := nab.ReadResults(nab.ResultsPath(dir, "edgeflowPipeline", f.Name))
		if err != nil {
			t.Fatal(err)
		}
		if len(rr.Times) != len(f.Times) || len(rr.Alert) != len(f.Times) {
			t.Fatalf("%s: %d rows, want %d", f.Name, len(rr.Times), len(f.Times))
		}
		for r := range f.Times {
			if !rr.Times[r].Equal(f.Times[r]) || rr.Scores[r] < 0 || rr.Scores[r] > 1 ||
				(rr.Alert[r] == 1 && rr.Scores[r] < st.Score.Alert.Threshold) {
				t.Fatalf("%s row %d: %s score %v alert %v", f.Name, r, rr.Times[r], rr.Scores[r], rr.Alert[r])
			}
		}
		alerts[i] = rr.Alert
	}
	line := fmt.Sprintf("results: %d files in %s; their alert column (threshold %.3f) scores", len(files), filepath.Join(dir, "edgeflowPipeline"), st.Score.Alert.Threshold)
	for _, p := range nab.Profiles {
		r, err := nab.Score(files, alerts, p)
		if err != nil {
			t.Fatal(err)
		}
		line += fmt.Sprintf(" %s %.1f", p.Name, r.Normalized)
	}
	if !strings.Contains(out, line+"\n") {
		t.Errorf("want the line\n%s\nin:\n%s", line, out)
	}
}
