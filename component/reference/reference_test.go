package reference_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/edgeflow/edgeflow/component"
	"github.com/edgeflow/edgeflow/component/reference"
	"github.com/edgeflow/edgeflow/config"
	"github.com/edgeflow/edgeflow/pipeline"
	"go.yaml.in/yaml/v3"

	// The built-in components, for the examples.
	_ "github.com/edgeflow/edgeflow/sinks"
	_ "github.com/edgeflow/edgeflow/sources"
	_ "github.com/edgeflow/edgeflow/stages"
)

// Test-only component types, with one field of every type, so that the
// generated reference and schema are checked against each kind of field
// whatever the built-in components happen to use.
func init() {
	newNothing := func(*component.Config, *component.Resources) (any, error) { return nopStage{}, nil }
	component.Register(component.Spec{
		Kind: pipeline.KindSource, Name: "reftest_gen", Summary: "Test source with every field type.",
		Description: "Emits nothing. Used by the reference tests.",
		Fields: []component.Field{
			{Name: "rate", Type: component.Float, Default: 1.0, Min: component.Bound(0), Description: "Messages per second."},
			{Name: "count", Type: component.Int, Optional: true, Min: component.Bound(1), Max: component.Bound(100), Description: "How many."},
			{Name: "interval", Type: component.Duration, Default: "1s", Description: "Tick."},
			{Name: "mode", Type: component.String, Default: "a", Enum: []string{"a", "b"}, Description: "The mode."},
			{Name: "key", Type: component.String, Description: "Sensor id.", Example: "temp-1"},
			{Name: "tags", Type: component.StringList, Optional: true, Description: "Tags."},
			{Name: "weights", Type: component.FloatList, Optional: true, Description: "Weights."},
			{Name: "labels", Type: component.StringMap, Optional: true, Description: "Labels."},
			{Name: "strict", Type: component.Bool, Default: false, Description: "Strictness."},
			{Name: "tls", Type: component.Object, Optional: true, Description: "TLS.", Fields: []component.Field{
				{Name: "ca", Type: component.String, Description: "CA file."},
				{Name: "insecure", Type: component.Bool, Default: false, Description: "Skip | verification."},
			}},
			{Name: "points", Type: component.ObjectList, Optional: true, Description: "Points.", Fields: []component.Field{
				{Name: "x", Type: component.Float, Description: "X."},
			}},
			{Name: "extra", Type: component.Any, Optional: true, Description: "Anything."},
		},
		Example: "sources:\n  g:\n    type: reftest_gen\n    key: temp-1\n",
		New:     func(*component.Config, *component.Resources) (any, error) { return nopSource{}, nil },
	})
	component.Register(component.Spec{
		Kind: pipeline.KindStage, Name: "reftest_batch", Summary: "Test batching stage.", Batching: true,
		New: newNothing,
	})
	component.Register(component.Spec{
		Kind: pipeline.KindSink, Name: "reftest_sink", Summary: "Test sink.",
		Fields: []component.Field{{Name: "path", Type: component.String, Optional: true, Description: "Where."}},
		New:    func(*component.Config, *component.Resources) (any, error) { return nopSink{}, nil },
	})
	component.RegisterConnection(component.ConnectionSpec{
		Name: "reftest_conn", Summary: "Test connection.",
		Fields: []component.Field{{Name: "url", Type: component.String, Description: "Broker URL."}},
		New:    func(*component.Config, *component.Resources) (component.Connection, error) { return nopConn{}, nil },
	})
}

type (
	nopSource struct{}
	nopStage  struct{}
	nopSink   struct{}
	nopConn   struct{}
)

func (nopSource) Run(context.Context, pipeline.SourceOutput) error { return nil }
func (nopStage) Process(context.Context, *pipeline.Message, pipeline.Emitter) error {
	return nil
}
func (nopSink) Write(context.Context, *pipeline.Message) error { return nil }
func (nopConn) Close(context.Context) error                    { return nil }

func TestMarkdown(t *testing.T) {
	var b bytes.Buffer
	if err := reference.Markdown(&b); err != nil {
		t.Fatal(err)
	}
	doc := b.String()
	for _, want := range []string{
		"# Component reference",
		"## Pipeline file",
		"| `drain_timeout` | duration | `30s` |",
		"| `logging.level` | string | `\"info\"` |",
		"## Common node keys",
		"| `overflow` | string | `\"block\"` | What the input queue does when full",
		"One of `block`, `drop_oldest`, `drop_newest`.",
		"| `batch.max_delay` | duration | `0s` |",
		"| `retry.backoff` | duration | `100ms` |",
		"### `reftest_conn` connection",
		"[reftest_gen](#reftest_gen-source)",
		"### `reftest_gen` source\n\nTest source with every field type.\n\nEmits nothing.",
		"| `rate` | float | `1` | Messages per second. Min 0. |",
		"| `count` | int |  | How many. Min 1; max 100. |",
		"| `interval` | duration | `1s` | Tick. |",
		"| `key` | string | **required** | Sensor id. Example: `temp-1`. |",
		"| `tls.insecure` | bool | `false` | Skip \\| verification. |",
		"| `points[].x` | float | **required** | X. |",
		"```yaml\nsources:\n  g:\n    type: reftest_gen\n    key: temp-1\n```",
		"### `reftest_batch` stage\n\nTest batching stage. *batching*",
		"### `reftest_sink` sink",
	} {
		if !strings.Contains(doc, want) {
			t.Errorf("markdown lacks %q", want)
		}
	}
}

func TestWriteComponent(t *testing.T) {
	specs := reference.Find("stage/reftest_batch")
	if len(specs) != 1 {
		t.Fatalf("Find(stage/reftest_batch) = %d specs, want 1", len(specs))
	}
	if got := reference.Find("sink/reftest_batch"); len(got) != 0 {
		t.Fatalf("Find(sink/reftest_batch) found a stage")
	}
	var b bytes.Buffer
	if err := reference.WriteComponent(&b, specs[0]); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(b.String(), "# `reftest_batch` stage") || !strings.Contains(b.String(), "`batch`") {
		t.Errorf("component reference:\n%s", b.String())
	}
}

func schema(t *testing.T) map[string]any {
	t.Helper()
	raw, err := reference.Schema()
	if err != nil {
		t.Fatal(err)
	}
	var s map[string]any
	if err := json.Unmarshal(raw, &s); err != nil {
		t.Fatalf("schema is not JSON: %v", err)
	}
	return s
}

func TestSchemaStructure(t *testing.T) {
	s := schema(t)
	if s["$schema"] != "https://json-schema.org/draft/2020-12/schema" {
		t.Errorf("$schema = %v", s["$schema"])
	}
	props := s["properties"].(map[string]any)
	for _, k := range []string{"name", "buffer", "drain_timeout", "logging", "metrics", "connections", "sources", "stages", "sinks", "dead_letter"} {
		if _, ok := props[k]; !ok {
			t.Errorf("top-level property %q missing", k)
		}
	}
	defs := s["$defs"].(map[string]any)
	gen, ok := defs["source.reftest_gen"].(map[string]any)
	if !ok {
		t.Fatalf("no $defs/source.reftest_gen")
	}
	if gen["additionalProperties"] != false {
		t.Errorf("component schema allows unknown keys")
	}
	interval := gen["properties"].(map[string]any)["interval"].(map[string]any)
	if interval["default"] != "1s" {
		t.Errorf("interval default = %v, want 1s", interval["default"])
	}
	if _, ok := defs["dead_letter.reftest_sink"].(map[string]any)["properties"].(map[string]any)["input"]; ok {
		t.Errorf("dead-letter sink schema accepts input")
	}
	if _, ok := defs["stage.reftest_batch"].(map[string]any)["properties"].(map[string]any)["batch"]; !ok {
		t.Errorf("batching stage schema lacks batch")
	}
	if _, ok := defs["sink.reftest_sink"].(map[string]any)["properties"].(map[string]any)["batch"]; ok {
		t.Errorf("non-batching sink schema accepts batch")
	}
}

// cases are pipeline files, each either valid for both the schema and
// config.Parse, or invalid for both: the schema must agree with the loader.
var cases = []struct {
	name, yaml string
	valid      bool
	wantPath   string // a path the schema reports, for invalid cases
}{
	{"full", `
name: t
buffer: 16
drain_timeout: 1m30s
logging: {level: debug, format: json}
metrics: {enabled: false, listen: "127.0.0.1:0"}
connections:
  broker: {type: reftest_conn, url: "tcp://x"}
sources:
  g:
    type: reftest_gen
    key: temp-1
    rate: 2.5
    count: 3
    interval: 250ms
    mode: b
    tags: one
    weights: [1, 2.5]
    labels: {site: plant, line: 3}
    tls: {ca: ca.pem}
    points: [{x: 1}, {x: 2}]
    extra: {anything: [1, 2]}
stages:
  s:
    type: reftest_batch
    input: g
    workers: 2
    ordered: true
    overflow: drop_oldest
    batch: {max_size: 8, max_delay: 5ms}
sinks:
  out:
    type: reftest_sink
    input: [s]
    buffer: 4
    retry: {max: -1, backoff: 1s}
dead_letter:
  type: reftest_sink
  path: dl.jsonl
`, true, ""},
	{"env", `
sources:
  g:
    type: reftest_gen
    key: ${KEY:-k}
    rate: ${RATE:-3}
    interval: ${TICK:-1s}
    mode: ${MODE:-a}
    strict: ${STRICT:-true}
sinks:
  out: {type: reftest_sink, input: g}
`, true, ""},
	{"unknown top-level key", "sourcez: {}\n", false, "/sourcez"},
	{"unknown component key", `
sources:
  g: {type: reftest_gen, key: k, ratez: 1}
sinks:
  out: {type: reftest_sink, input: g}
`, false, "/sources/g/ratez"},
	{"bad enum", `
sources:
  g: {type: reftest_gen, key: k, mode: c}
sinks:
  out: {type: reftest_sink, input: g}
`, false, "/sources/g/mode"},
	{"bad duration", `
sources:
  g: {type: reftest_gen, key: k, interval: 5 seconds}
sinks:
  out: {type: reftest_sink, input: g}
`, false, "/sources/g/interval"},
	{"below minimum", `
sources:
  g: {type: reftest_gen, key: k, count: 0}
sinks:
  out: {type: reftest_sink, input: g}
`, false, "/sources/g/count"},
	{"missing required", `
sources:
  g: {type: reftest_gen}
sinks:
  out: {type: reftest_sink, input: g}
`, false, "/sources/g"},
	{"unknown type", `
sources:
  g: {type: reftest_nope, key: k}
sinks:
  out: {type: reftest_sink, input: g}
`, false, "/sources/g/type"},
	{"batch on a sink that does not batch", `
sources:
  g: {type: reftest_gen, key: k}
sinks:
  out: {type: reftest_sink, input: g, batch: {max_size: 2}}
`, false, "/sinks/out/batch"},
	{"input on the dead letter sink", `
sources:
  g: {type: reftest_gen, key: k}
sinks:
  out: {type: reftest_sink, input: g}
dead_letter: {type: reftest_sink, input: g}
`, false, "/dead_letter/input"},
	{"bad nested object", `
sources:
  g: {type: reftest_gen, key: k, tls: {insecure: maybe}}
sinks:
  out: {type: reftest_sink, input: g}
`, false, "/sources/g/tls/insecure"},
}

func TestSchemaAgreesWithLoader(t *testing.T) {
	s := schema(t)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var doc any
			if err := yaml.Unmarshal([]byte(c.yaml), &doc); err != nil {
				t.Fatal(err)
			}
			problems := validate(s, doc)
			_, loadErr := config.Parse([]byte(c.yaml), "case.yaml")
			if c.valid {
				if len(problems) > 0 {
					t.Errorf("schema rejects a valid file:\n%s", strings.Join(problems, "\n"))
				}
				if loadErr != nil {
					t.Errorf("loader rejects a valid file: %v", loadErr)
				}
				return
			}
			if loadErr == nil {
				t.Errorf("loader accepts an invalid file")
			}
			found := false
			for _, p := range problems {
				found = found || strings.HasPrefix(p, c.wantPath+":")
			}
			if !found {
				t.Errorf("schema problems %q do not name %s", problems, c.wantPath)
			}
		})
	}
}

// The example pipelines in the repository must pass both the schema and the
// loader.
func TestExamplesMatchSchema(t *testing.T) {
	files, err := filepath.Glob("../../examples/*/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no examples found under examples/")
	}
	s := schema(t)
	for _, path := range files {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		var doc any
		if err := yaml.Unmarshal(data, &doc); err != nil {
			t.Errorf("%s: %v", path, err)
			continue
		}
		if problems := validate(s, doc); len(problems) > 0 {
			t.Errorf("%s does not match the schema:\n%s", path, strings.Join(problems, "\n"))
		}
		if _, err := config.Parse(data, path); err != nil {
			t.Errorf("%s does not load: %v", path, err)
		}
	}
}
