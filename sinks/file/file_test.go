package file

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/edgeflow/edgeflow/internal/componenttest"
	"github.com/edgeflow/edgeflow/pipeline"
	_ "github.com/edgeflow/edgeflow/sources/generate"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// runInto runs generate (with genCfg) into sink and returns the source's stats.
func runInto(t *testing.T, genCfg string, sink pipeline.Sink, batch int) pipeline.Stats {
	t.Helper()
	src := componenttest.MustBuild(t, pipeline.KindSource, "generate", genCfg).(pipeline.Source)
	p := pipeline.New(pipeline.Options{})
	if err := errors.Join(p.AddSource("gen", src, pipeline.NodeOptions{}),
		p.AddSink("file", sink, []string{"gen"}, pipeline.NodeOptions{BatchSize: batch})); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := p.Run(ctx); err != nil {
		t.Fatal(err)
	}
	st, _ := p.Stats("gen")
	return st
}

func lines(t *testing.T, path string) []map[string]any {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []map[string]any
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("%s: line %d is not JSON: %v", path, len(out)+1, err)
		}
		out = append(out, m)
	}
	return out
}

func TestWritesJSONLines(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "out.jsonl")
	sink := componenttest.MustBuild(t, pipeline.KindSink, "file", "path: "+path+"\nfsync: true").(pipeline.Sink)
	if _, err := os.Stat(filepath.Dir(path)); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("building the sink touched the file system")
	}
	st := runInto(t, "keys: [a, b]\nrate: 0\ncount: 500", sink, 64)
	got := lines(t, path)
	if len(got) != 500 || st.Acked != 500 {
		t.Fatalf("%d lines, %d acked", len(got), st.Acked)
	}
	if got[0]["sensor"] != "a" || got[1]["sensor"] != "b" {
		t.Fatalf("first lines: %v %v", got[0], got[1])
	}
	if _, ok := got[0]["value"].(float64); !ok {
		t.Fatalf("value: %v", got[0])
	}
	// A second run appends.
	sink = componenttest.MustBuild(t, pipeline.KindSink, "file", "path: "+path).(pipeline.Sink)
	runInto(t, "rate: 0\ncount: 10", sink, 64)
	if n := len(lines(t, path)); n != 510 {
		t.Fatalf("after appending: %d lines", n)
	}
}

func TestEnvelope(t *testing.T) {
	path := filepath.Join(t.TempDir(), "dl.jsonl")
	sink := componenttest.MustBuild(t, pipeline.KindSink, "file", "path: "+path+"\nformat: envelope").(pipeline.Sink)
	runInto(t, "keys: [k]\nrate: 0\ncount: 3", sink, 1)
	got := lines(t, path)
	if len(got) != 3 || got[0]["key"] != "k" || got[0]["fields"].(map[string]any)["sensor"] != "k" || got[0]["source_time"] == nil {
		t.Fatalf("%v", got)
	}
}

func TestRotation(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "r.jsonl")
	sink := componenttest.MustBuild(t, pipeline.KindSink, "file", "path: "+path+"\nmax_size: 2000\nmax_files: 100").(pipeline.Sink)
	runInto(t, "rate: 0\ncount: 1000", sink, 10)
	files, _ := filepath.Glob(path + "*")
	if len(files) < 5 {
		t.Fatalf("only %d files after writing ~70kB with max_size 2000", len(files))
	}
	total := 0
	for _, f := range files {
		st, _ := os.Stat(f)
		if st.Size() > 2000 {
			t.Errorf("%s is %d bytes, over max_size", f, st.Size())
		}
		total += len(lines(t, f))
	}
	if total != 1000 {
		t.Fatalf("%d lines over %d files, want 1000", total, len(files))
	}
	// The oldest rotated file has the first readings, the live file the last.
	oldest := lines(t, path+"."+strconv.Itoa(len(files)-1))
	if oldest[0]["value"] != 0.0 {
		t.Fatalf("oldest file starts with %v", oldest[0])
	}

	// With max_files 2 only two rotated files survive.
	path2 := filepath.Join(dir, "k.jsonl")
	sink = componenttest.MustBuild(t, pipeline.KindSink, "file", "path: "+path2+"\nmax_size: 2000\nmax_files: 2").(pipeline.Sink)
	runInto(t, "rate: 0\ncount: 1000", sink, 10)
	files, _ = filepath.Glob(path2 + "*")
	if strings.Join(files, " ") != path2+" "+path2+".1 "+path2+".2" {
		t.Fatalf("files: %v", files)
	}
}

func TestUnencodableMessageFailsAlone(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.jsonl")
	sink := componenttest.MustBuild(t, pipeline.KindSink, "file", "path: "+path).(*Sink)
	err := sink.WriteBatch(context.Background(), []*pipeline.Message{
		{Fields: map[string]any{"ok": 1.0}}, {Fields: map[string]any{"bad": make(chan int)}}})
	var be *pipeline.BatchError
	if !errors.As(err, &be) || be.Errs[0] != nil || !pipeline.IsPermanent(be.Errs[1]) {
		t.Fatalf("error %v: want only the second message failed, permanently", err)
	}
	got := lines(t, path)
	if len(got) != 1 || got[0]["ok"] != 1.0 {
		t.Fatalf("file holds %v, want just the good message", got)
	}
}
