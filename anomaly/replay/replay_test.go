package replay_test

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"testing"

	"go.uber.org/goleak"

	"github.com/edgeflow/edgeflow/anomaly"
	"github.com/edgeflow/edgeflow/anomaly/nab"
	"github.com/edgeflow/edgeflow/anomaly/replay"
	"github.com/edgeflow/edgeflow/internal/brokertest"
	"github.com/edgeflow/edgeflow/models/modeltest"
	_ "github.com/edgeflow/edgeflow/sinks"
	_ "github.com/edgeflow/edgeflow/sources"
	_ "github.com/edgeflow/edgeflow/stages"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const pipelineFile = "../../examples/anomaly/pipeline.yaml"

// corpus loads the named files of the shared NAB corpus.
func corpus(t *testing.T, names ...string) []*nab.File {
	t.Helper()
	dir := os.Getenv("NAB_DATA")
	if dir == "" {
		dir = filepath.Join("..", "..", "..", "shared", "data", "nab")
	}
	all, err := nab.LoadCorpus(dir)
	if err != nil {
		t.Skipf("NAB data: %v (set NAB_DATA)", err)
	}
	var out []*nab.File
	for _, f := range all {
		for _, n := range names {
			if f.Name == n {
				out = append(out, f)
			}
		}
	}
	if len(out) != len(names) {
		t.Fatalf("found %d of %v", len(out), names)
	}
	return out
}

// model trains a small autoencoder on synthetic windows, as the example's
// is, and writes it as fp32 ONNX; it returns the path and the model.
func model(t *testing.T, _ []*nab.File, w int) (string, anomaly.Reconstructor) {
	t.Helper()
	modeltest.RequireRuntime(t)
	ae, _, err := anomaly.Train(anomaly.SyntheticWindows(2000, w, 1), anomaly.TrainConfig{Epochs: 5, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	data, err := ae.MarshalONNX(nil)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "anomaly.onnx")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return path, ae
}

// check compares a replay with the Go detector run with the pipeline's
// settings: every row must be scored the same (ORT and the Go forward pass
// agree to ~1e-6 on the error; the log score is compared loosely), and the
// NAB scores must agree.
func check(t *testing.T, files []*nab.File, res *replay.Result, goModel anomaly.Reconstructor) {
	t.Helper()
	rows := 0
	for _, f := range files {
		rows += len(f.Values)
	}
	if res.Readings != rows || len(res.Incomplete) != 0 || res.Duplicates != 0 || res.Unmatched != 0 || res.DeadLettered != 0 {
		t.Fatalf("replay: %d readings of %d, incomplete %v, %d duplicates, %d unplaced, %d dead-lettered",
			res.Readings, rows, res.Incomplete, res.Duplicates, res.Unmatched, res.DeadLettered)
	}
	cfg, err := replay.Settings(pipelineFile)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Window != 16 || cfg.NormWarmup != 50 || cfg.HalfLife != 500 || cfg.Score.Likelihood.Learn != 100 || cfg.Score.Alert.Rest != 300 {
		t.Fatalf("settings %+v: want the example's window 16, warm-ups 50 and 100, half-life 500, rest 300", cfg)
	}
	cfg.Model = goModel
	want, err := nab.Evaluate(files, cfg)
	if err != nil {
		t.Fatal(err)
	}
	scored, differ := 0, 0
	for i := range files {
		for r, w := range want.Scores[i] {
			g := res.Scores[i][r]
			if g.Ready {
				scored++
			}
			if g.Ready != w.Ready || math.Abs(g.Score-w.Score) > 1e-3 {
				if differ < 8 {
					t.Logf("%s row %d: pipeline %+v, Go %+v", files[i].Name, r, g, w)
				}
				differ++
			}
		}
	}
	// The first 64 rows of each file teach the normaliser, the next 100
	// windows the likelihood: everything after is scored.
	if scored < rows-len(files)*170 || differ > 0 {
		t.Fatalf("%d of %d rows scored ready, %d differ from the Go detector", scored, rows, differ)
	}
	got, err := nab.Summarize(files, res.Scores, cfg)
	if err != nil {
		t.Fatal(err)
	}
	for p := range nab.Profiles {
		if g, w := got.Alerts[p].Normalized, want.Alerts[p].Normalized; math.Abs(g-w) > 1e-9 {
			t.Errorf("%s: pipeline %.2f, Go %.2f", nab.Profiles[p].Name, g, w)
		}
	}
	t.Logf("%d readings, %d scores in %s; standard %.1f", res.Readings, res.Messages, res.Elapsed, got.Alerts[0].Normalized)
}

// TestRealBrokers replays two NAB files through the example pipeline with
// mosquitto in (its default 20 messages in flight) and nats-server out.
func TestRealBrokers(t *testing.T) {
	files := corpus(t, "realKnownCause/rogue_agent_key_hold.csv", "artificialWithAnomaly/art_daily_jumpsup.csv")
	path, ae := model(t, files, 16)
	mq := brokertest.StartMosquitto(t, brokertest.MosquittoConfig{MaxInflight: 20})
	ns := brokertest.StartNATS(t, brokertest.NATSConfig{JetStream: true})
	res, err := replay.Run(context.Background(), files, replay.Options{Pipeline: pipelineFile, Model: path,
		MQTTURL: mq.URL(), NATSURL: ns.URL()})
	if err != nil {
		t.Fatal(err)
	}
	check(t, files, res, ae)
}

// TestEmbeddedBrokers replays one file with the pipeline's embedded MQTT
// broker and an in-process nats-server, as `eval nab --pipeline` does by
// default.
func TestEmbeddedBrokers(t *testing.T) {
	files := corpus(t, "realKnownCause/rogue_agent_key_hold.csv")
	path, ae := model(t, files, 16)
	res, err := replay.Run(context.Background(), files, replay.Options{Pipeline: pipelineFile, Model: path})
	if err != nil {
		t.Fatal(err)
	}
	check(t, files, res, ae)
}

// TestSettingsRefusesOtherPipelines: a pipeline without the anomaly stages
// cannot be mirrored in Go.
func TestSettingsRefusesOtherPipelines(t *testing.T) {
	path := filepath.Join(t.TempDir(), "p.yaml")
	yaml := "sources:\n  g:\n    type: generate\n    count: 1\nsinks:\n  out:\n    type: drop\n    input: g\n"
	if err := os.WriteFile(path, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := replay.Settings(path); err == nil {
		t.Fatal("want an error for a pipeline without window and anomaly stages")
	}
}
