package main

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/edgeflow/edgeflow/anomaly"
	"github.com/edgeflow/edgeflow/anomaly/nab"
	"github.com/edgeflow/edgeflow/internal/brokertest"
	"github.com/edgeflow/edgeflow/models"
)

// The anomaly commands' tests run the binary on the shared NAB corpus and
// fail, not skip, when it or ONNX Runtime is missing.

// Files of the corpus the tests use: 4032 readings each, the first with one
// labelled anomaly window, the second with none.
const (
	jumpsUp    = "artificialWithAnomaly/art_daily_jumpsup.csv"
	smallNoise = "artificialNoAnomaly/art_daily_small_noise.csv"
	taxi       = "realKnownCause/nyc_taxi.csv"
)

// nabData is the shared NAB corpus: $NAB_DATA, else ../shared/data/nab from
// the repository root.
func nabData(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("NAB_DATA")
	if dir == "" {
		dir = filepath.Join("..", "..", "..", "shared", "data", "nab")
	}
	if _, err := os.Stat(filepath.Join(dir, "labels", "combined_windows.json")); err != nil {
		t.Fatalf("NAB corpus: %v (it is ../shared/data/nab from the repository root; or set NAB_DATA)", err)
	}
	return dir
}

// requireORT loads ONNX Runtime in the test process, as the binary does.
func requireORT(t *testing.T) {
	t.Helper()
	if err := models.Init(""); err != nil {
		t.Fatalf("ONNX Runtime: %v (run `make deps`)", err)
	}
}

var trainLine = regexp.MustCompile(`^trained \[16 16 4 16 16\] on (\d+) windows: loss ([0-9.]+) → ([0-9.]+); wrote (\S+) \((\d+) bytes\)\nwrote (\S+) \((\d+) bytes, int8\)\n$`)

// trainAnomaly runs `model train anomaly` on the normal first quarter of
// two NAB files and checks what it reports against the files it wrote. It
// returns the fp32 and int8 model paths.
func trainAnomaly(t *testing.T, data string) (fp32, int8Path string) {
	t.Helper()
	dir := t.TempDir()
	fp32, int8Path = filepath.Join(dir, "ae.onnx"), filepath.Join(dir, "ae.int8.onnx")
	csvs := []string{filepath.Join(data, "data", jumpsUp), filepath.Join(data, "data", smallNoise)}
	r := edgeflow(t, nil, "model", "train", "anomaly", "--csv", csvs[0], "--csv", csvs[1],
		"--normal", "0.25", "--epochs", "4", "--out", fp32, "--int8", int8Path)
	if r.code != 0 {
		t.Fatalf("train: exit %d: %s", r.code, r.stderr)
	}
	m := trainLine.FindStringSubmatch(r.stdout)
	if m == nil {
		t.Fatalf("train output:\n%s", r.stdout)
	}
	// Windows of 16 over the normal quarter of each file.
	want := 0
	for _, p := range csvs {
		f, err := nab.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		want += int(0.25*float64(len(f.Values))) - 16 + 1
	}
	if n, _ := strconv.Atoi(m[1]); n != want {
		t.Errorf("trained on %d windows, want %d", n, want)
	}
	first, _ := strconv.ParseFloat(m[2], 64)
	last, _ := strconv.ParseFloat(m[3], 64)
	if !(last < first/2) {
		t.Errorf("loss %v → %v: training did not learn", first, last)
	}
	for _, f := range []struct{ reported, size, path string }{{m[4], m[5], fp32}, {m[6], m[7], int8Path}} {
		st, err := os.Stat(f.path)
		if err != nil {
			t.Fatal(err)
		}
		if f.reported != f.path || f.size != strconv.FormatInt(st.Size(), 10) {
			t.Errorf("reported %s (%s bytes), wrote %s (%d bytes)", f.reported, f.size, f.path, st.Size())
		}
	}
	return fp32, int8Path
}

func TestModelTrainAnomaly(t *testing.T) {
	requireORT(t)
	fp32, int8Path := trainAnomaly(t, nabData(t))
	for _, p := range []string{fp32, int8Path} {
		info, err := models.Inspect(p)
		if err != nil {
			t.Fatal(err)
		}
		in, out := info.Inputs, info.Outputs
		if len(in) != 1 || in[0].Name != "window" || !slices.Equal(in[0].Shape, []int64{-1, 16}) ||
			len(out) != 1 || out[0].Name != "reconstruction" || !slices.Equal(out[0].Shape, []int64{-1, 16}) {
			t.Errorf("%s: inputs %+v, outputs %+v; want window [-1,16] → reconstruction [-1,16]", p, in, out)
		}
		quantised := info.Operators["QuantizeLinear"] > 0 && info.Operators["DequantizeLinear"] > 0
		if quantised != (p == int8Path) {
			t.Errorf("%s: operators %v", p, info.Operators)
		}
	}
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"--out", "x.onnx"}, 2, "need --out and either at least one --csv or --synthetic"},
		{[]string{"--csv", "a.csv", "--synthetic", "100", "--out", "x.onnx"}, 2, "either at least one --csv or --synthetic"},
		{[]string{"--csv", "a.csv", "--out", "x.onnx", "--normal", "1.5"}, 2, "--normal 1.5"},
		{[]string{"--csv", "/nonexistent.csv", "--out", filepath.Join(t.TempDir(), "x.onnx")}, 1, "/nonexistent.csv"},
	} {
		r := edgeflow(t, nil, append([]string{"model", "train", "anomaly"}, tc.args...)...)
		if r.code != tc.code || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("train %v: exit %d, stderr %q; want %d, %q", tc.args, r.code, r.stderr, tc.code, tc.want)
		}
	}
}

// profileLine is a row of eval nab's table: profile, NAB score, alert
// threshold, windows detected/labelled, FP alerts, raw likelihood score.
var profileLine = regexp.MustCompile(`(?m)^\s*(standard|reward_low_FP_rate|reward_low_FN_rate)\s+(-?[0-9.]+)\s+([0-9.]+)\s+(\d+)/(\d+)\s+(\d+)\s+(-?[0-9.]+)\s*$`)

type nabRow struct {
	profile               string
	score, threshold, raw float64
	detected, windows, fp int
}

// nabTable parses the profile rows of eval nab's output and checks what
// holds for any detector: three profiles, scores at most 100, thresholds
// in the swept range, every labelled window counted.
func nabTable(t *testing.T, out string, windows int) []nabRow {
	t.Helper()
	var rows []nabRow
	for _, m := range profileLine.FindAllStringSubmatch(out, -1) {
		r := nabRow{profile: m[1]}
		r.score, _ = strconv.ParseFloat(m[2], 64)
		r.threshold, _ = strconv.ParseFloat(m[3], 64)
		r.detected, _ = strconv.Atoi(m[4])
		r.windows, _ = strconv.Atoi(m[5])
		r.fp, _ = strconv.Atoi(m[6])
		r.raw, _ = strconv.ParseFloat(m[7], 64)
		if r.score > 100 || r.raw > 100 || r.threshold < 0.1 || r.threshold > 0.95 || r.windows != windows || r.detected > r.windows {
			t.Errorf("implausible row %+v (want scores <= 100, threshold in [0.1, 0.95], %d windows)", r, windows)
		}
		rows = append(rows, r)
	}
	if len(rows) != 3 || rows[0].profile != "standard" {
		t.Fatalf("want the three profiles, standard first:\n%s", out)
	}
	return rows
}

func TestEvalNAB(t *testing.T) {
	requireORT(t)
	data := nabData(t)
	files, err := nab.LoadCorpus(data)
	if err != nil {
		t.Fatal(err)
	}
	labelled := 0
	for _, f := range files {
		if f.Name == jumpsUp || f.Name == taxi {
			labelled += len(f.Windows)
		}
	}

	// The pretrained model, trained on synthetic series and run by ONNX
	// Runtime: it finds the anomalies with few false alarms.
	r := edgeflow(t, nil, "eval", "nab", "--data", data, "--file", jumpsUp, "--file", taxi, "--epochs", "3", "--files")
	if r.code != 0 {
		t.Fatalf("eval nab: exit %d: %s", r.code, r.stderr)
	}
	if !regexp.MustCompile(`^pretrained autoencoder, ort: 2 files, \d`).MatchString(r.stdout) {
		t.Errorf("eval nab output does not start with its label:\n%s", r.stdout)
	}
	rows := nabTable(t, r.stdout, labelled)
	if std := rows[0]; std.score < 30 || std.detected == 0 {
		t.Errorf("standard profile %+v: want a score >= 30 with alerts in labelled windows", std)
	}
	for _, name := range []string{jumpsUp, taxi} {
		line := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name) + `\s+(-?[0-9.]+)\s+(\d+)/(\d+)\s+(\d+)$`).FindStringSubmatch(r.stdout)
		if line == nil {
			t.Errorf("no per-file line for %s:\n%s", name, r.stdout)
		}
	}

	// A model from `model train anomaly`, int8, scored as given.
	_, int8Path := trainAnomaly(t, data)
	results := t.TempDir()
	r = edgeflow(t, nil, "eval", "nab", "--data", data, "--file", jumpsUp, "--model", int8Path, "--thresholds", "0.2,0.3,0.4", "--results", results)
	if r.code != 0 {
		t.Fatalf("eval nab --model: exit %d: %s", r.code, r.stderr)
	}
	// --results: NAB's layout, one row per input row.
	for _, f := range files {
		if f.Name != jumpsUp {
			continue
		}
		rr, err := nab.ReadResults(filepath.Join(results, "edgeflow", "artificialWithAnomaly", "edgeflow_art_daily_jumpsup.csv"))
		if err != nil {
			t.Fatalf("--results: %v", err)
		}
		if len(rr.Times) != len(f.Times) || !strings.Contains(r.stdout, "\nresults: 1 files in "+filepath.Join(results, "edgeflow")+";") {
			t.Errorf("--results: %d rows of %d; output:\n%s", len(rr.Times), len(f.Times), r.stdout)
		}
	}
	if want := fmt.Sprintf("model %s: 1 files, ", int8Path); !strings.HasPrefix(r.stdout, want) {
		t.Errorf("eval nab --model output does not start with %q:\n%s", want, r.stdout)
	}
	for _, row := range nabTable(t, r.stdout, 1) {
		if row.threshold != 0.2 && row.threshold != 0.3 && row.threshold != 0.4 {
			t.Errorf("threshold %v was not among those swept", row.threshold)
		}
	}

	// --settings: the example pipeline's detector settings, with its score
	// stage's warm-up (learn) raised from 100 to 200 windows. The Go path
	// already runs the stages' defaults, which the example keeps, so only a
	// changed setting shows that the file was read. --loco follows the
	// table.
	example, err := os.ReadFile(filepath.Join("..", "..", "examples", "anomaly", "pipeline.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(example), "learn: 100\n") {
		t.Fatal("examples/anomaly/pipeline.yaml: no `learn: 100` to change")
	}
	settings := filepath.Join(t.TempDir(), "pipeline.yaml")
	if err := os.WriteFile(settings, []byte(strings.Replace(string(example), "learn: 100\n", "learn: 200\n", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	results2 := t.TempDir()
	withSettings := edgeflow(t, nil, "eval", "nab", "--data", data, "--file", jumpsUp, "--model", int8Path, "--thresholds", "0.2,0.3,0.4",
		"--settings", settings, "--loco", "--results", results2)
	if withSettings.code != 0 {
		t.Fatalf("eval nab --settings: exit %d: %s", withSettings.code, withSettings.stderr)
	}
	nabTable(t, withSettings.stdout, 1)
	// The defaults score a sensor from its 165th reading (row 164); with
	// 100 more windows of warm-up, from row 264.
	resultsFile := filepath.Join("edgeflow", "artificialWithAnomaly", "edgeflow_art_daily_jumpsup.csv")
	own, err := nab.ReadResults(filepath.Join(results, resultsFile))
	if err != nil {
		t.Fatal(err)
	}
	pipe, err := nab.ReadResults(filepath.Join(results2, resultsFile))
	if err != nil {
		t.Fatal(err)
	}
	if own.Scores[163] != 0 || own.Scores[164] == 0 || pipe.Scores[263] != 0 || pipe.Scores[264] == 0 {
		t.Errorf("--settings: scores at rows 163, 164: %v %v by default; at rows 263, 264: %v %v with learn 200",
			own.Scores[163], own.Scores[164], pipe.Scores[263], pipe.Scores[264])
	}
	if !regexp.MustCompile(`(?m)^leave one category out, standard: held out -?[0-9.]+, in-sample -?[0-9.]+ \(threshold 0\.[234]00\), at the shipped threshold -?[0-9.]+$`).MatchString(withSettings.stdout) {
		t.Errorf("eval nab --loco output:\n%s", withSettings.stdout)
	}
	if r := edgeflow(t, nil, "eval", "nab", "--data", data, "--file", jumpsUp, "--model", int8Path, "--settings", "/nonexistent.yaml"); r.code != 1 || !strings.Contains(r.stderr, "/nonexistent.yaml") {
		t.Errorf("--settings /nonexistent.yaml: exit %d, %s", r.code, r.stderr)
	}

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--file", "nope.csv"}, "--file nope.csv: not in the corpus's labels"},
		{[]string{"--file", jumpsUp, "--runtime", "x"}, `--runtime "x": want ort or go`},
		{[]string{"--file", jumpsUp, "--int8", "--mode", "per-sensor"}, "--int8 needs --mode pretrained"},
		{[]string{"--file", jumpsUp, "--thresholds", "a"}, "--thresholds"},
	} {
		r := edgeflow(t, nil, append([]string{"eval", "nab", "--data", data}, tc.args...)...)
		if r.code != 2 || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("eval nab %v: exit %d, stderr %q; want 2, %q", tc.args, r.code, r.stderr, tc.want)
		}
	}
}

// subscriber collects every reading published under plant/.
type subscriber struct {
	client  paho.Client
	mu      sync.Mutex
	byTopic map[string][]map[string]any
}

func subscribe(t *testing.T, url string) *subscriber {
	t.Helper()
	s := &subscriber{byTopic: map[string][]map[string]any{}}
	opts := paho.NewClientOptions().AddBroker(url).SetClientID("simulate-test").SetCleanSession(true)
	s.client = paho.NewClient(opts)
	if tok := s.client.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("subscriber connect: %v", tok.Error())
	}
	t.Cleanup(func() { s.client.Disconnect(100) })
	tok := s.client.Subscribe("plant/#", 1, func(_ paho.Client, m paho.Message) {
		var v map[string]any
		if err := json.Unmarshal(m.Payload(), &v); err != nil {
			v = map[string]any{"error": err.Error(), "payload": string(m.Payload())}
		}
		s.mu.Lock()
		s.byTopic[m.Topic()] = append(s.byTopic[m.Topic()], v)
		s.mu.Unlock()
	})
	if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("subscribe: %v", tok.Error())
	}
	return s
}

// wait returns the readings once n have arrived (or fails after 30s).
func (s *subscriber) wait(t *testing.T, n int) map[string][]map[string]any {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		s.mu.Lock()
		got := 0
		for _, v := range s.byTopic {
			got += len(v)
		}
		if got >= n {
			out := s.byTopic
			s.byTopic = map[string][]map[string]any{}
			s.mu.Unlock()
			return out
		}
		s.mu.Unlock()
		if time.Now().After(deadline) {
			t.Fatalf("received %d of %d readings", got, n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

var simulateLine = regexp.MustCompile(`(?m)^simulate: published (\d+) readings \((\d+) inside (\d+) injected faults\) from (\d+) sensors to (\S+) in \S+ \(\d+ readings/s, all acknowledged\)$`)

var faultLine = regexp.MustCompile(`(?m)^fault: (\S+)\s+(\S+)\s+readings (\d+)-(\d+) \(`)

func TestSimulate(t *testing.T) {
	data := nabData(t)
	broker := brokertest.StartMosquitto(t, brokertest.MosquittoConfig{})
	sub := subscribe(t, broker.URL())

	// A NAB file, as fast as the broker acknowledges, cut at 300 readings:
	// the readings arrive on the file's topic with its values and times.
	csv := filepath.Join(data, "data", jumpsUp)
	r := edgeflow(t, nil, "simulate", "--url", broker.URL(), "--nab", csv, "--speed", "max", "--count", "300")
	m := simulateLine.FindStringSubmatch(r.stdout)
	if r.code != 0 || m == nil || m[1] != "300" || m[2] != "0" || m[3] != "0" || m[4] != "1" || m[5] != broker.URL() {
		t.Fatalf("simulate --nab: exit %d, stdout %q, stderr %s", r.code, r.stdout, r.stderr)
	}
	got := sub.wait(t, 300)
	readings := got["plant/art_daily_jumpsup/reading"]
	if len(got) != 1 || len(readings) != 300 {
		t.Fatalf("received topics %v", slices.Collect(maps.Keys(got)))
	}
	f, err := nab.ReadFile(csv)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]float64{}
	for i := range 300 {
		want[f.Times[i].UTC().Format(time.RFC3339Nano)] = f.Values[i]
	}
	for _, p := range readings {
		ts, _ := p["ts"].(string)
		if v, ok := want[ts]; !ok || p["value"] != v {
			t.Fatalf("reading %v is not a row of the first 300 of %s", p, jumpsUp)
		}
		delete(want, ts)
	}

	// One simulated machine with faults injected: the faults listed are
	// the readings marked "fault": true.
	r = edgeflow(t, nil, "simulate", "--url", broker.URL(), "--machines", "1", "--machine-readings", "200",
		"--quiet", "50", "--fault-every", "60", "--fault-length", "10", "--list-faults", "--speed", "max")
	m = simulateLine.FindStringSubmatch(r.stdout)
	faults := faultLine.FindAllStringSubmatch(r.stdout, -1)
	if r.code != 0 || m == nil || m[1] != "600" || m[4] != "3" || m[3] != strconv.Itoa(len(faults)) || len(faults) == 0 {
		t.Fatalf("simulate --machines: exit %d, %d fault lines, stdout:\n%s\nstderr: %s", r.code, len(faults), r.stdout, r.stderr)
	}
	faultyBySensor := map[string]int{}
	for _, f := range faults {
		from, _ := strconv.Atoi(f[3])
		to, _ := strconv.Atoi(f[4])
		faultyBySensor[f[1]] += to - from + 1
	}
	got = sub.wait(t, 600)
	total := 0
	for _, sensor := range []string{"machine-1-temp", "machine-1-vibration", "machine-1-current"} {
		readings := got["plant/"+sensor+"/reading"]
		faulty := 0
		for _, p := range readings {
			if _, ok := p["value"].(float64); !ok {
				t.Fatalf("%s: reading %v has no value", sensor, p)
			}
			if p["fault"] == true {
				faulty++
			}
		}
		if len(readings) != 200 || faulty != faultyBySensor[sensor] {
			t.Errorf("%s: %d readings, %d marked faulty; want 200, %d as listed", sensor, len(readings), faulty, faultyBySensor[sensor])
		}
		total += faulty
	}
	if m[2] != strconv.Itoa(total) {
		t.Errorf("simulate reports %s readings inside faults, the broker delivered %d", m[2], total)
	}

	if r := edgeflow(t, nil, "simulate", "--url", broker.URL(), "--qos", "3"); r.code != 2 || !strings.Contains(r.stderr, "--qos 3") {
		t.Errorf("simulate --qos 3: exit %d, %s", r.code, r.stderr)
	}
}

// `model train anomaly --synthetic N` trains on N synthetic windows, no CSV.
func TestModelTrainAnomalySynthetic(t *testing.T) {
	out := filepath.Join(t.TempDir(), "ae.onnx")
	r := edgeflow(t, nil, "model", "train", "anomaly", "--synthetic", "300", "--epochs", "2", "--out", out)
	if r.code != 0 {
		t.Fatalf("train: exit %d: %s", r.code, r.stderr)
	}
	if !strings.HasPrefix(r.stdout, "trained [16 16 4 16 16] on 300 windows:") {
		t.Fatalf("train output:\n%s", r.stdout)
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if anomaly.WindowOf(data) != 16 {
		t.Fatalf("model window %d, want 16", anomaly.WindowOf(data))
	}
}

// `model train anomaly --teacher T --hidden ...` distils a smaller student
// from a teacher written by the same command.
func TestModelTrainAnomalyDistill(t *testing.T) {
	dir := t.TempDir()
	teacher, student := filepath.Join(dir, "teacher.onnx"), filepath.Join(dir, "student.onnx")
	if r := edgeflow(t, nil, "model", "train", "anomaly", "--synthetic", "300", "--epochs", "2", "--hidden", "32,4,32", "--out", teacher); r.code != 0 {
		t.Fatalf("teacher: exit %d: %s", r.code, r.stderr)
	}
	r := edgeflow(t, nil, "model", "train", "anomaly", "--synthetic", "300", "--epochs", "2", "--hidden", "8,4,8", "--teacher", teacher, "--out", student)
	if r.code != 0 {
		t.Fatalf("student: exit %d: %s", r.code, r.stderr)
	}
	want := "distilled from the teacher " + teacher + ", [16 32 4 32 16] (1364 parameters), into [16 8 4 8 16] (356 parameters); the loss is against its reconstructions\ntrained [16 8 4 8 16] on 300 windows:"
	if !strings.HasPrefix(r.stdout, want) {
		t.Fatalf("output:\n%s\nwant it to start with:\n%s", r.stdout, want)
	}
	data, err := os.ReadFile(student)
	if err != nil {
		t.Fatal(err)
	}
	ae, err := anomaly.ReadONNX(data)
	if err != nil || ae.Params() != 356 {
		t.Fatalf("student: %v, %v", ae, err)
	}
	for _, tc := range []struct{ args []string }{
		{[]string{"--teacher", filepath.Join(dir, "missing.onnx")}},
		{[]string{"--teacher", student, "--window", "8"}},
	} {
		args := append([]string{"model", "train", "anomaly", "--synthetic", "50", "--epochs", "1", "--out", filepath.Join(dir, "x.onnx")}, tc.args...)
		if r := edgeflow(t, nil, args...); r.code != 1 || !strings.Contains(r.stderr, "teacher") {
			t.Errorf("%v: exit %d, %s", tc.args, r.code, r.stderr)
		}
	}
}
