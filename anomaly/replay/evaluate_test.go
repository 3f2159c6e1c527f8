package replay_test

import (
	"bytes"
	"context"
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
	err := replay.Evaluate(context.Background(), &out, files, nab.EvalConfig{Mode: nab.Pretrained},
		replay.EvalOptions{Path: pipelineFile, Model: path, PerFile: true})
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
}
