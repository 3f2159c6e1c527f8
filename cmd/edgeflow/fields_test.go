package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/edgeflow/edgeflow/component/schema"
	"github.com/edgeflow/edgeflow/config"
	"github.com/rs/zerolog"
)

// Each kind of expression that compiles but does not fit the fields of its
// messages fails validate, at the token at fault, all in one run: fields
// declared on broker sources, sampled from CSV and JSON Lines files, set by
// the generate source and derived by map and window stages.
func TestValidateTypeErrors(t *testing.T) {
	r := edgeflow(t, nil, "validate", "testdata/types.yaml")
	if r.code != 1 || r.stdout != "" {
		t.Fatalf("validate types.yaml = %d, stdout %q, stderr:\n%s", r.code, r.stdout, r.stderr)
	}
	want := []string{
		`16:17: sources.counts.fields.n: unknown field type "int": write float: JSON and CSV numbers are decoded as floats`,
		`22:13: sources.raw.fields: the codec always gives value (string) (from the raw codec)`,
		`30:11: sources.badcsv.path: readings.csv: column "machine" holds no number in its first 2 rows ("press-1"): list it in ` + "`strings`",
		`42:20: stages.every7.condition: expression "seq % 7 == 0": % takes integers, and seq is a float (JSON, CSV and generated numbers all are): write int(seq)`,
		`46:29: stages.hot.condition: expression "temperature > \"hot\"": invalid operation: > (mismatched types float and string)`,
		`50:16: stages.typo.condition: expression "tempreature > 3 && machine != \"\"": no field "tempreature" (did you mean "temperature"?); the messages here have machine (string), seq (float), status (string), temperature (float) (as declared in sources.readings.fields; from the header of readings.csv)`,
		`55:19: stages.shout.set.name: expression "upper(temperature)": cannot use float as argument (type string) to call upper`,
		`61:20: stages.fahrenheit.set.label: expression "upper(f)": cannot use float as argument (type string) to call upper`,
		`62:10: stages.fahrenheit.key: expression "[sensor]" produces a list, want a string`,
		`63:13: stages.fahrenheit.delete: no field "valeu" to delete (did you mean "value"?)`,
		`67:35: stages.busy.condition: expression "load > 0.5 && line > 3": invalid operation: > (mismatched types string and int)`,
		`71:16: stages.cond.condition: expression "value": produces a float, not a bool`,
		`76:12: stages.win.field: no field "vlaue" in the input (did you mean "value"?)`,
	}
	lines := strings.Split(strings.TrimSpace(r.stderr), "\n")
	if len(lines) != len(want) {
		t.Errorf("got %d problems, want %d:\n%s", len(lines), len(want), r.stderr)
	}
	for i, w := range want {
		if i >= len(lines) || !strings.HasPrefix(lines[i], "testdata/types.yaml:"+w) {
			t.Errorf("problem %d: want prefix\n  testdata/types.yaml:%s\nin\n%s", i+1, w, r.stderr)
		}
	}
}

// The field check raises no false alarm: every pipeline in the repository
// that parses (the examples, the test fixtures, README.md and the docs)
// passes it, and the check did have fields to check in many of them.
func TestNoFalseFieldErrors(t *testing.T) {
	for name, value := range map[string]string{
		"EDGEFLOW_TEST_MQTT": "127.0.0.1:1883", "SCORES_DATA": "data/*.csv",
		"SCORES_MODEL": "model.onnx", "SCORES_OUT": "out.csv",
	} {
		t.Setenv(name, value)
	}
	type doc struct{ path, text string }
	var docs []doc
	err := filepath.WalkDir("../..", func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == ".cache" || d.Name() == "node_modules" || d.Name() == ".git" || d.Name() == "bin") {
			return filepath.SkipDir
		}
		ext := filepath.Ext(path)
		if d.IsDir() || (ext != ".yaml" && ext != ".yml" && ext != ".md") || strings.Contains(path, "/deploy/") {
			return nil
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if ext != ".md" {
			docs = append(docs, doc{path, string(data)})
			return nil
		}
		for i, block := range yamlBlocks.FindAllStringSubmatch(string(data), -1) {
			if strings.Contains(block[1], "\nsources:") && strings.Contains(block[1], "\nsinks:") {
				docs = append(docs, doc{path + "#" + string(rune('0'+i)), block[1]})
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	parsed, typed := 0, 0
	for _, d := range docs {
		f, err := config.Parse([]byte(d.text), d.path)
		if err != nil {
			t.Logf("%s does not parse: the field check is not run (%v)", d.path, strings.SplitN(err.Error(), "\n", 2)[0])
			continue // a fixture of config errors, or a component this build lacks
		}
		parsed++
		schemas, errs := f.CheckFields(zerolog.Nop())
		if strings.HasSuffix(d.path, "testdata/types.yaml") || strings.HasSuffix(d.path, "testdata/hidden.yaml") {
			if len(errs) == 0 {
				t.Errorf("%s: the field check found nothing", d.path)
			}
			continue // their mistakes are on purpose
		}
		for _, e := range errs {
			t.Errorf("%s: false alarm: %v", d.path, e)
		}
		for _, s := range schemas {
			if len(s.Fields) > 0 {
				typed++
				break
			}
		}
		if strings.HasSuffix(d.path, "examples/anomaly/pipeline.yaml") {
			// The alerts map is checked against the fields of a score.
			if s := schemas["detect"]; !s.Closed || s.Fields["last"] != schema.Float {
				t.Errorf("%s: the fields of the detect stage are %+v, want those of a score", d.path, s)
			}
		}
	}
	t.Logf("%d pipeline files and docs blocks, %d parsed, %d with known fields", len(docs), parsed, typed)
	if parsed < 10 || typed < 5 {
		t.Errorf("only %d pipelines parsed and %d had known fields: the walk missed the repository's pipelines", parsed, typed)
	}
}

var yamlBlocks = regexp.MustCompile("(?s)```yaml\n(.*?)```")

// run refuses what validate reports of expressions against fields, before
// it starts anything: a type error would otherwise dead-letter every
// message at run time.
func TestRunRefusesTypeErrors(t *testing.T) {
	r := edgeflow(t, nil, "run", "testdata/types.yaml")
	if r.code != 1 || !strings.Contains(r.stderr, `% takes integers, and seq is a float`) {
		t.Fatalf("run types.yaml = %d, stderr:\n%s", r.code, r.stderr)
	}
}
