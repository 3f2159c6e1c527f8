package file

import (
	"bufio"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/edgeflow/edgeflow/internal/componenttest"
	"github.com/edgeflow/edgeflow/pipeline"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// nab is the NAB corpus in the shared data folder beside the repository.
const nab = "../../../shared/data/nab/data"

func src(t testing.TB, cfg string) pipeline.Source {
	t.Helper()
	return componenttest.MustBuild(t, pipeline.KindSource, "file", cfg).(pipeline.Source)
}

// run replays into collecting sinks and returns output and dead letters.
func run(t testing.TB, s pipeline.Source, timeout time.Duration) (out, dead []*pipeline.Message, err error) {
	t.Helper()
	p := pipeline.New(pipeline.Options{})
	o, d := &componenttest.Collector{}, &componenttest.Collector{}
	if err := errors.Join(p.AddSource("src", s, pipeline.NodeOptions{}),
		p.AddSink("out", o, []string{"src"}, pipeline.NodeOptions{}),
		p.SetDeadLetter("dead", d, pipeline.NodeOptions{})); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	err = p.Run(ctx)
	return o.Messages(), d.Messages(), err
}

func dataRows(t testing.TB, path string) int {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("NAB data not found beside the repository: %v", err)
	}
	defer f.Close()
	n := 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if strings.TrimSpace(sc.Text()) != "" {
			n++
		}
	}
	return n - 1 // header
}

func TestReplayNAB(t *testing.T) {
	path := nab + "/realKnownCause/ec2_request_latency_system_failure.csv"
	want := dataRows(t, path)
	out, dead, err := run(t, src(t, "path: "+path), 60*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != want || len(dead) != 0 {
		t.Fatalf("replayed %d rows (%d dead), the file has %d", len(out), len(dead), want)
	}
	first := out[0]
	// The first data row is 2014-03-07 03:41:00,45.868
	if first.Key != "ec2_request_latency_system_failure" || first.Fields["value"] != 45.868 ||
		!first.SourceTime.Equal(time.Date(2014, 3, 7, 3, 41, 0, 0, time.UTC)) {
		t.Fatalf("first row: key %q fields %v time %v", first.Key, first.Fields, first.SourceTime)
	}
	if _, ok := first.Fields["timestamp"]; ok {
		t.Fatal("the timestamp column is a field")
	}
}

func TestGlobMergesByTime(t *testing.T) {
	pattern := nab + "/realKnownCause/*.csv"
	paths, _ := filepath.Glob(pattern)
	if len(paths) < 2 {
		t.Fatalf("want several NAB files, found %d", len(paths))
	}
	want := 0
	for _, p := range paths {
		want += dataRows(t, p)
	}
	out, dead, err := run(t, src(t, "path: "+pattern), 120*time.Second)
	if err != nil || len(dead) != 0 {
		t.Fatalf("err %v, dead %d", err, len(dead))
	}
	if len(out) != want {
		t.Fatalf("replayed %d rows, the files have %d", len(out), want)
	}
	// Rows come in time order across files. One NAB file itself steps back
	// in time once (machine_temperature, 2014-01-07 02:55 -> 02:00); a file's
	// own order is kept, so such a row follows the one before it at once.
	keys := map[string]bool{}
	for i, m := range out {
		keys[m.Key] = true
		if i > 0 && m.SourceTime.Before(out[i-1].SourceTime) && m.Key != out[i-1].Key {
			t.Fatalf("row %d (%s %v) is earlier than the row before (%s %v)", i, m.Key, m.SourceTime, out[i-1].Key, out[i-1].SourceTime)
		}
	}
	if len(keys) != len(paths) {
		t.Fatalf("%d keys for %d files", len(keys), len(paths))
	}
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestSpeedFactor replays 20s of readings at 40x and 80x. Replay never runs
// early (40x takes 500ms, 80x 250ms, less a little timer slack); that 40x takes about twice
// as long as 80x is a timing ratio, so it is checked with a wide margin
// (>= 1.3, ideally 2) and three tries before failing.
func TestSpeedFactor(t *testing.T) {
	var b strings.Builder
	b.WriteString("timestamp,value\n")
	t0 := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range 21 {
		b.WriteString(t0.Add(time.Duration(i)*time.Second).Format(time.RFC3339) + ",1\n")
	}
	path := writeFile(t, "s.csv", b.String()) // spans 20s
	elapsed := func(speed string) time.Duration {
		start := time.Now()
		out, _, err := run(t, src(t, "path: "+path+"\nspeed: "+speed), 60*time.Second)
		if err != nil || len(out) != 21 {
			t.Fatalf("%s: %d rows, %v", speed, len(out), err)
		}
		return time.Since(start)
	}
	var ratios []float64
	for range 3 {
		slow, fast := elapsed("40x"), elapsed("80x") // ideally 500ms and 250ms
		if slow < 480*time.Millisecond || fast < 230*time.Millisecond {
			t.Fatalf("replay ran early: 40x took %v, 80x took %v", slow, fast)
		}
		r := float64(slow) / float64(fast)
		if r >= 1.3 {
			return
		}
		ratios = append(ratios, r)
	}
	t.Fatalf("40x took %.2f times as long as 80x in three tries, want about 2", ratios)
}

func TestBadRowsDeadLettered(t *testing.T) {
	path := writeFile(t, "bad.csv", strings.Join([]string{
		"timestamp,value,label",
		"2024-01-01 00:00:00,1,ok",
		"yesterday,2,ok", // line 3: bad time
		"2024-01-01 00:00:02,3,ok",
		"2024-01-01 00:00:03,hot,ok", // line 5: not a number
		"2024-01-01 00:00:04,5",      // line 6: too few columns
		"2024-01-01 00:00:05,6,ok",
	}, "\n")+"\n")
	out, dead, err := run(t, src(t, "path: "+path+"\nstrings: [label]"), 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != 3 || out[2].Fields["value"] != 6.0 || out[2].Fields["label"] != "ok" {
		t.Fatalf("out: %d rows, last %v", len(out), out[len(out)-1].Fields)
	}
	wantLines := []string{"bad.csv:3: ", "bad.csv:5: ", "bad.csv:6: "}
	if len(dead) != len(wantLines) {
		t.Fatalf("%d dead letters", len(dead))
	}
	for i, d := range dead {
		if e := d.Meta[pipeline.MetaDeadLetterError]; !strings.Contains(e, wantLines[i]) {
			t.Errorf("dead letter %d: %q lacks %q", i, e, wantLines[i])
		}
	}
	if string(dead[0].Payload) != "yesterday,2,ok" {
		t.Errorf("dead letter payload %q", dead[0].Payload)
	}
}

func TestJSONLines(t *testing.T) {
	path := writeFile(t, "r.jsonl", `{"ts":"2024-01-01T00:00:00Z","id":"a","value":1}

{"ts":1704067201,"id":"b","value":2,"unit":"C"}
not json
{"ts":"2024-01-01T00:00:02Z","value":3}
`)
	out, dead, err := run(t, src(t, "path: "+path+"\ntime: {field: ts}\nkey: {field: id}"), 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != 2 || out[1].Key != "b" || out[1].Fields["unit"] != "C" ||
		!out[1].SourceTime.Equal(time.Date(2024, 1, 1, 0, 0, 1, 0, time.UTC)) {
		t.Fatalf("out %d: %+v", len(out), out)
	}
	if _, ok := out[0].Fields["ts"]; ok {
		t.Fatal("timestamp kept as a field")
	}
	if len(dead) != 2 || !strings.Contains(dead[0].Meta[pipeline.MetaDeadLetterError], "r.jsonl:4:") ||
		!strings.Contains(dead[1].Meta[pipeline.MetaDeadLetterError], `r.jsonl:5: key.field "id" is missing`) {
		t.Fatalf("dead: %v", dead)
	}
}

func TestLoop(t *testing.T) {
	path := writeFile(t, "l.csv", "timestamp,value\n2024-01-01 00:00:00,1\n2024-01-01 00:00:01,2\n")
	out, _, err := run(t, src(t, "path: "+path+"\nloop: true"), 300*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if len(out) < 10 {
		t.Fatalf("looped replay emitted only %d rows", len(out))
	}
}

func TestErrors(t *testing.T) {
	for cfg, want := range map[string]string{
		"path: x.csv\nspeed: fast":                        "positive factor",
		"path: x.csv\ntime: {format: whenever}":           "Go time layout",
		"path: '[x'":                                      "bad glob",
		"path: x.csv\ntime: {field: ''}\nspeed: original": "needs a time column",
		"path: x.csv\ndelimiter: ';;'":                    "single character",
		"path: x.csv\nkey: {}":                            "give the field",
	} {
		if _, err := componenttest.Build(t, pipeline.KindSource, "file", cfg); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: err = %v, want %q", cfg, err, want)
		}
	}
	// Missing files and columns are found when the source runs.
	dir := t.TempDir()
	if _, _, err := run(t, src(t, "path: "+dir+"/*.csv"), 10*time.Second); err == nil || !strings.Contains(err.Error(), "no file matches") {
		t.Errorf("no match: %v", err)
	}
	path := writeFile(t, "h.csv", "time,value\n1,2\n")
	if _, _, err := run(t, src(t, "path: "+path+"\ntime: {field: ts}"), 10*time.Second); err == nil || !strings.Contains(err.Error(), `no time column "ts"`) {
		t.Errorf("missing column: %v", err)
	}
}
