package eval_test

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/edgeflow/edgeflow/anomaly"
	"github.com/edgeflow/edgeflow/anomaly/eval"
	"github.com/edgeflow/edgeflow/anomaly/nab"
)

// corpus loads the shared NAB corpus ($NAB_DATA, else ../shared/data/nab
// from the repository root); the tests fail without it.
func corpus(t *testing.T) []*nab.File {
	t.Helper()
	dir := os.Getenv("NAB_DATA")
	if dir == "" {
		dir = filepath.Join("..", "..", "..", "shared", "data", "nab")
	}
	files, err := nab.LoadCorpus(dir)
	if err != nil {
		t.Fatalf("NAB corpus: %v (set NAB_DATA)", err)
	}
	return files
}

func TestNABGoRuntime(t *testing.T) {
	files, err := eval.SelectFiles(corpus(t), []string{"artificialWithAnomaly/art_daily_jumpsup.csv"})
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	err = eval.NAB(&out, files, eval.NABOptions{Runtime: eval.Go, PerFile: true, LOCO: true,
		Config: nab.EvalConfig{Window: 16, Mode: nab.PerSensor, Train: anomaly.TrainConfig{Epochs: 2, Seed: 1}}})
	if err != nil {
		t.Fatal(err)
	}
	s := out.String()
	if !strings.HasPrefix(s, "per-sensor autoencoder, go: 1 files, ") ||
		!regexp.MustCompile(`(?m)^\s+standard\s+-?[0-9.]+\s+[0-9.]+\s+[01]/1\s`).MatchString(s) ||
		!regexp.MustCompile(`(?m)^artificialWithAnomaly/art_daily_jumpsup.csv\s+-?[0-9.]+\s+[01]/1\s+\d+$`).MatchString(s) ||
		!regexp.MustCompile(`(?m)^leave one category out, reward_low_FN_rate: held out `).MatchString(s) ||
		!regexp.MustCompile(`(?m)^\s+artificialWithAnomaly\s+1\s+1\s`).MatchString(s) {
		t.Errorf("output:\n%s", s)
	}
	if _, err := eval.SelectFiles(files, []string{"nope.csv"}); err == nil || !strings.Contains(err.Error(), "nope.csv") {
		t.Errorf("unknown file: %v", err)
	}
	if err := eval.NAB(&out, files, eval.NABOptions{Runtime: "gpu"}); err == nil {
		t.Error("runtime gpu accepted")
	}
	if err := eval.NAB(&out, files, eval.NABOptions{Runtime: eval.Go, Int8: true, Config: nab.EvalConfig{Mode: nab.PerSensor}}); err == nil {
		t.Error("int8 accepted per sensor")
	}
}

func TestTrainRefusesBadFraction(t *testing.T) {
	for _, normal := range []float64{0, -1, 1.5} {
		err := eval.Train(&bytes.Buffer{}, eval.TrainOptions{CSVs: []string{"x.csv"}, Normal: normal, Window: 16, Out: "x.onnx"})
		if err == nil || !strings.Contains(err.Error(), "normal fraction") {
			t.Errorf("normal %v: %v", normal, err)
		}
	}
}
