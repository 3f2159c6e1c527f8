package file

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/edgeflow/edgeflow/component"
	"github.com/edgeflow/edgeflow/component/schema"
	"github.com/edgeflow/edgeflow/pipeline"
	"github.com/rs/zerolog"
	"go.yaml.in/yaml/v3"
)

// sampled returns the schema validate learns from the files of cfg, whose
// relative paths are taken from dir.
func sampled(t *testing.T, dir, cfg string) (schema.Schema, error) {
	t.Helper()
	spec, _ := component.Lookup(pipeline.KindSource, "file")
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(cfg), &doc); err != nil {
		t.Fatal(err)
	}
	conf, errs := component.Parse(spec.Fields, doc.Content[0], "p.yaml", "sources.replay", nil)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	return spec.Schema(conf, schema.Unknown(), &component.Resources{Logger: zerolog.Nop(), Dir: dir, Node: "replay"})
}

func write(t *testing.T, dir, name, content string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// A CSV file's fields are its columns but the time and key ones, numbers
// unless listed in strings, as the replay emits them.
func TestSampleCSV(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "a.csv", "timestamp,temperature,machine,site\n2024-01-01 00:00:00,21.5,press-1,north\n")
	s, err := sampled(t, dir, "path: a.csv\ntime: {field: timestamp}\nkey: {field: site}\nstrings: [machine]")
	if err != nil {
		t.Fatal(err)
	}
	want := schema.Schema{Closed: true, From: "from the header of a.csv",
		Fields: map[string]schema.Type{"temperature": schema.Float, "machine": schema.String}}
	if fmt.Sprint(s) != fmt.Sprint(want) {
		t.Errorf("got %+v, want %+v", s, want)
	}
	// values: only those columns.
	if s, err := sampled(t, dir, "path: a.csv\nvalues: [temperature]"); err != nil || len(s.Fields) != 1 || s.Fields["temperature"] != schema.Float {
		t.Errorf("values: %+v, %v", s, err)
	}
	// A number column without a number: every row would be dead-lettered.
	_, err = sampled(t, dir, "path: a.csv\ntime: {field: timestamp}\nstrings: [site]")
	if err == nil || !strings.Contains(err.Error(), `p.yaml:1:7: sources.replay.path: a.csv: column "machine" holds no number in its first 1 rows ("press-1"): list it in `+"`strings`") {
		t.Errorf("text in a number column: %v", err)
	}
	// One good number is enough: the other rows are dead-lettered one by one.
	write(t, dir, "b.csv", "t,v\n1,n/a\n2,3.5\n")
	if s, err := sampled(t, dir, "path: b.csv\ntime: {field: t, format: unix}"); err != nil || s.Fields["v"] != schema.Float {
		t.Errorf("a column with some numbers: %+v, %v", s, err)
	}
	// A header without the time column stops the replay: said at once.
	if _, err := sampled(t, dir, "path: b.csv\ntime: {field: ts}"); err == nil || !strings.Contains(err.Error(), `no time column "ts"`) {
		t.Errorf("missing time column: %v", err)
	}
}

// A JSON Lines file's fields are those of its first lines, with the types
// of their values; a null or two types make a field any.
func TestSampleJSONLines(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "a.jsonl", `{"ts": "2024-01-01T00:00:00Z", "load": 0.5, "line": "A", "on": true, "tags": ["x"], "extra": {"a": 1}, "maybe": null, "mixed": 1}
not json
{"ts": "2024-01-01T00:00:01Z", "load": 0.7, "line": "B", "maybe": null, "mixed": "one", "late": 2}
`)
	s, err := sampled(t, dir, "path: a.jsonl\ntime: {field: ts}")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]schema.Type{"load": schema.Float, "line": schema.String, "on": schema.Bool, "tags": schema.List,
		"extra": schema.Object, "maybe": schema.Any, "mixed": schema.Any, "late": schema.Float}
	if !s.Closed || fmt.Sprint(s.Fields) != fmt.Sprint(want) || s.From != "from the first 1000 lines of a.jsonl" {
		t.Errorf("got %+v, want closed %v", s, want)
	}
}

// Files that are not there yet, and a glob of files of different columns.
func TestSampleGlob(t *testing.T) {
	dir := t.TempDir()
	if s, err := sampled(t, dir, "path: '*.csv'"); err != nil || s.Closed || len(s.Fields) != 0 {
		t.Errorf("no file yet: %+v, %v; want unknown fields", s, err)
	}
	write(t, dir, "a.csv", "timestamp,temp\n2024-01-01 00:00:00,1\n")
	write(t, dir, "b.csv", "timestamp,temp,hum\n2024-01-01 00:00:00,1,2\n")
	s, err := sampled(t, dir, "path: '*.csv'\ntime: {field: timestamp}")
	if err != nil || !s.Closed || s.Fields["temp"] != schema.Float || s.Fields["hum"] != schema.Float || len(s.Fields) != 2 {
		t.Errorf("two files: %+v, %v", s, err)
	}
}
