package config_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/edgeflow/edgeflow/component"
	"github.com/edgeflow/edgeflow/config"
	"github.com/edgeflow/edgeflow/pipeline"
)

// errorLines parses src and returns its errors one per line, checking that
// each is a *component.Error.
func errorLines(t *testing.T, src string) []string {
	t.Helper()
	f, err := config.Parse([]byte(src), "pipeline.yaml")
	if err == nil {
		t.Fatalf("Parse succeeded, want errors")
	}
	if f != nil {
		t.Errorf("Parse returned a File along with errors")
	}
	var lines []string
	for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
		var ce *component.Error
		if !errors.As(e, &ce) {
			t.Errorf("error %q is a %T, want *component.Error", e, e)
		}
		lines = append(lines, e.Error())
	}
	return lines
}

func TestParseErrors(t *testing.T) {
	const sinkOK = "sinks:\n  out: {type: test_collect, into: x, input: gen}\n"
	const srcOK = "sources:\n  gen: {type: test_gen}\n"
	cases := []struct {
		name string
		src  string
		want []string
	}{
		{"wrong type", srcOK + "stages:\n  win:\n    type: test_scale\n    input: gen\n    size: ten\n" +
			"sinks:\n  out: {type: test_collect, into: x, input: win}\n",
			[]string{`pipeline.yaml:7:11: stages.win.size: want an integer, got the string "ten"`}},
		{"yaml syntax, scanner", "a: b\nc: d: e\n",
			[]string{`pipeline.yaml:2:1: invalid YAML: mapping values are not allowed in this context`}},
		{"yaml syntax, parser", "sources:\n  gen: {type: test_gen\n\nsinks: {}\n",
			[]string{`pipeline.yaml:2:1: invalid YAML: did not find expected ',' or '}'`}},
		{"yaml syntax, bad indent", "a:\n  - b\n c: d\n",
			[]string{`pipeline.yaml:3:1: invalid YAML: did not find expected key`}},
		{"yaml syntax, no line", "a: \"\\q\"\n",
			[]string{`pipeline.yaml: invalid YAML: found unknown escape character`}},
		{"not a mapping", "- a\n- b\n",
			[]string{`pipeline.yaml:1:1: a pipeline file must be a mapping of keys (name, sources, stages, sinks, ...), got a list`}},
		{"empty file", "# nothing\n",
			[]string{"pipeline.yaml: the file is empty: a pipeline needs at least `sources:` and `sinks:`"}},
		{"two documents", srcOK + sinkOK + "---\nname: x\n",
			[]string{`pipeline.yaml:5:1: the file holds more than one YAML document (---); a pipeline file holds one`}},
		{"unknown top-level key", "nmae: x\n" + srcOK + sinkOK,
			[]string{`pipeline.yaml:1:1: nmae: unknown key (did you mean "name"?)`}},
		{"unknown component key", "sources:\n  gen: {type: test_gen, cuont: 3}\n" + sinkOK,
			[]string{`pipeline.yaml:2:25: sources.gen.cuont: unknown key (did you mean "count"?)`}},
		{"misspelt common key", srcOK + "sinks:\n  out: {type: test_collect, into: x, inputs: gen}\n",
			[]string{
				`pipeline.yaml:2:3: sources.gen: the source's output goes nowhere: no stage or sink names it as input`,
				`pipeline.yaml:4:3: sinks.out: the sink has no input: add ` + "`input:`" + ` with the name of a source or stage`,
				`pipeline.yaml:4:38: sinks.out.inputs: unknown key (did you mean "input"?)`,
			}},
		{"unknown type", "sources:\n  gen: {type: test_gne}\n" + sinkOK,
			[]string{`pipeline.yaml:2:15: sources.gen.type: unknown source type "test_gne" (did you mean "test_gen"?); known source types: test_gen`}},
		{"missing type", "sources:\n  gen: {count: 3}\n" + sinkOK,
			[]string{`pipeline.yaml:2:3: sources.gen: missing required key "type"; known source types: test_gen`}},
		{"type not a string", "sources:\n  gen: {type: [test_gen]}\n" + sinkOK,
			[]string{`pipeline.yaml:2:15: sources.gen.type: want a source type, got a list; known source types: test_gen`}},
		{"node not a mapping", srcOK + "sinks:\n  out: test_collect\n",
			[]string{
				`pipeline.yaml:2:3: sources.gen: the source's output goes nowhere: no stage or sink names it as input`,
				"pipeline.yaml:4:8: sinks.out: want a mapping with a `type:` and the sink's options, got the string \"test_collect\"",
			}},
		{"section not a mapping", "sources: [gen]\n" + sinkOK,
			[]string{
				`pipeline.yaml:1:10: sources: want a mapping of name: {type: ..., ...}, got a list`,
				`pipeline.yaml:3:45: sinks.out.input: no source or stage is named "gen"`,
			}},
		{"bad top-level values", "buffer: 0\ndrain_timeout: 10\nlogging: {format: xml}\nmetrics: {enabled: maybe}\n" + srcOK + sinkOK,
			[]string{
				`pipeline.yaml:1:9: buffer: 0 is below the minimum 1`,
				`pipeline.yaml:2:16: drain_timeout: bad duration "10" (want a number with a unit: 500ms, 10s, 1m30s)`,
				`pipeline.yaml:3:19: logging.format: "xml" is not one of json, console`,
				`pipeline.yaml:4:20: metrics.enabled: want true or false, got the string "maybe"`,
			}},
		{"bad duration in component", "sources:\n  gen: {type: test_gen, interval: 5}\n" + sinkOK,
			[]string{`pipeline.yaml:2:35: sources.gen.interval: bad duration "5" (want a number with a unit: 500ms, 10s, 1m30s)`}},
		{"bad common keys", srcOK + "sinks:\n  out: {type: test_collect, into: x, input: gen, workers: 0, overflow: drop, buffer: many, retry: {max: -2, backof: 1s}}\n",
			[]string{
				`pipeline.yaml:4:59: sinks.out.workers: 0 is below the minimum 1`,
				`pipeline.yaml:4:72: sinks.out.overflow: "drop" is not one of block, drop_oldest, drop_newest`,
				`pipeline.yaml:4:86: sinks.out.buffer: want an integer, got the string "many"`,
				`pipeline.yaml:4:105: sinks.out.retry.max: -2 is below the minimum -1`,
				`pipeline.yaml:4:109: sinks.out.retry.backof: unknown key (did you mean "backoff"?)`,
			}},
		{"ordered on a sink", srcOK + "sinks:\n  out: {type: test_collect, into: x, input: gen, ordered: true}\n",
			[]string{`pipeline.yaml:4:50: sinks.out.ordered: unknown key`}},
		{"missing input", srcOK + "stages:\n  s: {type: test_scale}\nsinks:\n  out: {type: test_collect, into: x, input: s}\n",
			[]string{
				`pipeline.yaml:2:3: sources.gen: the source's output goes nowhere: no stage or sink names it as input`,
				"pipeline.yaml:4:3: stages.s: the stage has no input: add `input:` with the name of a source or stage",
			}},
		{"unknown input with suggestion", srcOK + "sinks:\n  out: {type: test_collect, into: x, input: gne}\n",
			// gen is not also called unfed: the typo explains it.
			[]string{`pipeline.yaml:4:45: sinks.out.input: no source or stage is named "gne" (did you mean "gen"?)`}},
		{"input names a connection", "connections:\n  broker: {type: test_conn, url: x}\n" + srcOK +
			"sinks:\n  out: {type: test_collect, into: x, input: [gen, broker]}\n",
			[]string{`pipeline.yaml:6:51: sinks.out.input: no source or stage is named "broker" ("broker" is a connection; name the source or stage that uses it)`}},
		{"input is a sink", srcOK + "sinks:\n  out: {type: test_collect, into: x, input: gen}\n  out2: {type: test_collect, into: y, input: out}\n",
			[]string{`pipeline.yaml:5:46: sinks.out2.input: "out" is a sink; only sources and stages can be inputs`}},
		{"input is the dead letter", srcOK + sinkOK + "  out2: {type: test_collect, into: y, input: dead_letter}\ndead_letter: {type: test_collect, into: z}\n",
			[]string{`pipeline.yaml:5:46: sinks.out2.input: "dead_letter" is a sink; only sources and stages can be inputs`}},
		{"own input and listed twice", srcOK + "stages:\n  s: {type: test_scale, input: [gen, s, gen]}\nsinks:\n  out: {type: test_collect, into: x, input: s}\n",
			[]string{
				`pipeline.yaml:4:38: stages.s.input: a node cannot be its own input`,
				`pipeline.yaml:4:41: stages.s.input: input "gen" is listed twice`,
			}},
		{"cycle", srcOK + "stages:\n  a: {type: test_scale, input: [gen, c]}\n  b: {type: test_scale, input: a}\n  c: {type: test_scale, input: b}\n" +
			"sinks:\n  out: {type: test_collect, into: x, input: c}\n",
			[]string{`pipeline.yaml:5:32: stages.b.input: cycle: a -> b -> c -> a`}},
		{"two cycles", srcOK + "stages:\n  a: {type: test_scale, input: [gen, a2]}\n  a2: {type: test_scale, input: a}\n" +
			"  b: {type: test_scale, input: [gen, b2]}\n  b2: {type: test_scale, input: b}\n" +
			"sinks:\n  out: {type: test_collect, into: x, input: [a2, b2]}\n",
			[]string{
				`pipeline.yaml:5:33: stages.a2.input: cycle: a -> a2 -> a`,
				`pipeline.yaml:7:33: stages.b2.input: cycle: b -> b2 -> b`,
			}},
		{"orphan stage", srcOK + "stages:\n  lost: {type: test_scale, input: gen}\n" + sinkOK,
			[]string{`pipeline.yaml:4:3: stages.lost: the stage's output goes nowhere: no stage or sink names it as input`}},
		{"duplicate names across sections", srcOK + "stages:\n  gen: {type: test_scale, input: gen}\n" + sinkOK,
			[]string{`pipeline.yaml:4:3: stages.gen: name "gen" is already used by sources.gen (line 2); node names must be unique across sources, stages, sinks and dead_letter`}},
		{"duplicate section and keys", srcOK + "sources: {}\n" + "sinks:\n  out: {type: test_collect, into: x, into: y, input: gen, input: gen}\n",
			[]string{
				`pipeline.yaml:3:1: sources: key given twice`,
				`pipeline.yaml:5:38: sinks.out.into: key given twice`,
				`pipeline.yaml:5:59: sinks.out.input: key given twice`,
			}},
		{"duplicate connection", "connections:\n  c: {type: test_conn, url: a}\n  c: {type: test_conn, url: b}\n" + srcOK + sinkOK,
			[]string{`pipeline.yaml:3:3: connections.c: connection "c" is already defined at line 2`}},
		{"unknown connection type", "connections:\n  c: {type: test_con, url: a}\n" + srcOK + sinkOK,
			[]string{`pipeline.yaml:2:13: connections.c.type: unknown connection type "test_con" (did you mean "test_conn"?); known connection types: test_conn`}},
		{"connection option missing", "connections:\n  c: {type: test_conn}\n" + srcOK + sinkOK,
			[]string{`pipeline.yaml:2:6: connections.c: missing required key "url" (string)`}},
		{"batch on a component that does not batch", srcOK + "sinks:\n  out: {type: test_collect, into: x, input: gen, batch: {max_size: 3}}\n",
			[]string{`pipeline.yaml:4:50: sinks.out.batch: the sink type "test_collect" does not batch, so it takes no batch options`}},
		{"batch on a stage that does not batch", srcOK + "stages:\n  s: {type: test_scale, input: gen, batch: {max_size: 3}}\n" +
			"sinks:\n  out: {type: test_collect, into: x, input: s}\n",
			[]string{`pipeline.yaml:4:37: stages.s.batch: the stage type "test_scale" does not batch, so it takes no batch options (stage types that batch: test_batch_scale)`}},
		{"bad batch options", srcOK + "stages:\n  s: {type: test_batch_scale, input: gen, batch: {max_size: 0, max_delay: soon, size: 3}}\n" +
			"sinks:\n  out: {type: test_collect, into: x, input: s}\n",
			[]string{
				`pipeline.yaml:4:61: stages.s.batch.max_size: 0 is below the minimum 1`,
				`pipeline.yaml:4:75: stages.s.batch.max_delay: bad duration "soon" (want a number with a unit: 500ms, 10s, 1m30s)`,
				`pipeline.yaml:4:81: stages.s.batch.size: unknown key`,
			}},
		{"dead letter with input", srcOK + sinkOK + "dead_letter:\n  type: test_collect\n  into: y\n  input: gen\n",
			[]string{`pipeline.yaml:8:3: dead_letter.input: the dead-letter sink takes no input: failed messages reach it by themselves`}},
		{"no sources", "sinks: {}\n",
			[]string{
				"pipeline.yaml:1:1: sources: the pipeline has no sources: add at least one under `sources:`",
				"pipeline.yaml:1:1: sinks: the pipeline has no sinks: add at least one under `sinks:`",
			}},
		{"no sinks", srcOK,
			[]string{"pipeline.yaml:1:1: sinks: the pipeline has no sinks: add at least one under `sinks:`"}},
		{"nested object errors", srcOK + "stages:\n  s:\n    type: test_scale\n    input: gen\n    window: {every: 5, evry: 1s}\n" +
			"sinks:\n  out: {type: test_collect, into: x, input: s}\n",
			[]string{
				`pipeline.yaml:7:21: stages.s.window.every: bad duration "5" (want a number with a unit: 500ms, 10s, 1m30s)`,
				`pipeline.yaml:7:24: stages.s.window.evry: unknown key (did you mean "every"?)`,
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := errorLines(t, tc.src)
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("errors:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
}

// One file with many problems reports all of them, in file order.
func TestParseReportsEveryProblem(t *testing.T) {
	src := `nmae: demo
buffer: -1
sources:
  gen: {type: test_gne}
  gen2: {type: test_gen, count: lots}
stages:
  s: {type: test_scale, input: [gne, out], facter: 3}
sinks:
  out: {type: test_collect, input: s}
`
	want := []string{
		`pipeline.yaml:1:1: nmae: unknown key (did you mean "name"?)`,
		`pipeline.yaml:2:9: buffer: -1 is below the minimum 1`,
		`pipeline.yaml:4:15: sources.gen.type: unknown source type "test_gne" (did you mean "test_gen"?); known source types: test_gen`,
		`pipeline.yaml:5:3: sources.gen2: the source's output goes nowhere: no stage or sink names it as input`,
		`pipeline.yaml:5:33: sources.gen2.count: want an integer, got the string "lots"`,
		`pipeline.yaml:7:33: stages.s.input: no source or stage is named "gne" (did you mean "gen"?)`,
		`pipeline.yaml:7:38: stages.s.input: "out" is a sink; only sources and stages can be inputs`,
		`pipeline.yaml:7:44: stages.s.facter: unknown key (did you mean "factor"?)`,
		`pipeline.yaml:9:8: sinks.out: missing required key "into" (string)`,
	}
	got := errorLines(t, src)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("errors:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestParseDefaultsAndOptions(t *testing.T) {
	src := `sources:
  gen: {type: test_gen}
stages:
  s: {type: test_batch_scale, input: gen, workers: 4, buffer: 16, overflow: drop_oldest, batch: {max_size: 8, max_delay: 20ms}}
  t: {type: test_scale, input: s, workers: 2, ordered: false}
sinks:
  out: {type: test_collect, into: x, input: [t], retry: {max: -1}}
dead_letter: {type: test_collect, into: dl}
`
	f, err := config.Parse([]byte(src), "/etc/edgeflow/line3.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if f.Name != "line3" || f.Buffer != 256 || f.DrainTimeout != 30*time.Second {
		t.Errorf("top level = %q %d %v, want line3 256 30s", f.Name, f.Buffer, f.DrainTimeout)
	}
	if f.Logging.Level != "info" || f.Logging.Format != "console" || !f.Metrics.Enabled || f.Metrics.Listen != "127.0.0.1:9464" {
		t.Errorf("logging/metrics defaults = %+v %+v", f.Logging, f.Metrics)
	}
	if len(f.Nodes) != 4 || f.DeadLetter == nil || f.DeadLetter.Name != "dead_letter" {
		t.Fatalf("nodes = %d, dead letter = %+v", len(f.Nodes), f.DeadLetter)
	}
	byName := map[string]*config.Node{}
	for _, n := range f.Nodes {
		byName[n.Name] = n
	}
	s := byName["s"].Options
	wantS := pipeline.NodeOptions{Buffer: 16, Overflow: pipeline.DropOldest, Workers: 4, Ordered: true, BatchSize: 8, BatchDelay: 20 * time.Millisecond}
	if s != wantS {
		t.Errorf("s options = %+v, want %+v", s, wantS)
	}
	if o := byName["t"].Options; o.Ordered || o.Workers != 2 {
		t.Errorf("t options = %+v, want 2 unordered workers", o)
	}
	if o := byName["out"].Options; o.Retries != -1 || o.RetryBackoff != 100*time.Millisecond || o.Workers != 1 {
		t.Errorf("out options = %+v, want retries -1, backoff 100ms", o)
	}
	if o := f.DeadLetter.Options; o.Retries != 3 {
		t.Errorf("dead letter retries = %d, want the default 3", o.Retries)
	}
	if n := byName["t"]; n.Kind != pipeline.KindStage || n.Type != "test_scale" || n.Line != 5 || n.Column != 3 ||
		len(n.Inputs) != 1 || n.Inputs[0] != "s" || n.Config.Float("factor") != 2 {
		t.Errorf("t = %+v", n)
	}
}

func TestNodeFields(t *testing.T) {
	names := func(fs []component.Field) string {
		var out []string
		for _, f := range fs {
			out = append(out, f.Name)
		}
		return strings.Join(out, ",")
	}
	for _, tc := range []struct {
		kind     pipeline.Kind
		batching bool
		want     string
	}{
		{pipeline.KindSource, true, "type"},
		{pipeline.KindStage, false, "type,input,buffer,overflow,workers,ordered"},
		{pipeline.KindStage, true, "type,input,buffer,overflow,workers,ordered,batch"},
		{pipeline.KindSink, false, "type,input,buffer,overflow,workers,retry"},
		{pipeline.KindSink, true, "type,input,buffer,overflow,workers,batch,retry"},
	} {
		if got := names(config.NodeFields(tc.kind, tc.batching)); got != tc.want {
			t.Errorf("NodeFields(%s, %v) = %s, want %s", tc.kind, tc.batching, got, tc.want)
		}
	}
	if got := names(config.TopLevelFields()); got != "name,buffer,drain_timeout,logging,metrics,connections,sources,stages,sinks,dead_letter" {
		t.Errorf("TopLevelFields = %s", got)
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := config.Load("testdata/does-not-exist.yaml")
	var ce *component.Error
	if !errors.As(err, &ce) || err.Error() != "testdata/does-not-exist.yaml: cannot read the pipeline file: no such file or directory" {
		t.Errorf("Load = %v", err)
	}
}
