package config_test

import (
	"strings"
	"testing"

	"github.com/edgeflow/edgeflow/config"
)

func TestEnvExpansion(t *testing.T) {
	t.Setenv("EF_COUNT", "42")
	t.Setenv("EF_ID", "press")
	t.Setenv("EF_EMPTY", "")
	src := `name: ${EF_ID}-line
buffer: ${EF_BUF:-64}
sources:
  gen:
    type: test_gen
    count: ${EF_COUNT}
    id: "${EF_COUNT}"
sinks:
  out:
    type: test_collect
    into: cost $$5 ${EF_EMPTY:-none} $ ${EF_ID}
    input: gen
`
	f, err := config.Parse([]byte(src), "p.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if f.Name != "press-line" {
		t.Errorf("name = %q, want press-line", f.Name)
	}
	if f.Buffer != 64 {
		t.Errorf("buffer = %d, want the default 64 (plain ${} re-resolved to an int)", f.Buffer)
	}
	gen, out := f.Nodes[0], f.Nodes[1]
	if gen.Config.Int("count") != 42 {
		t.Errorf("count = %d, want 42", gen.Config.Int("count"))
	}
	if gen.Config.String("id") != "42" {
		t.Errorf("quoted id = %q, want the string 42", gen.Config.String("id"))
	}
	if got := out.Config.String("into"); got != "cost $5 none $ press" {
		t.Errorf("into = %q, want %q", got, "cost $5 none $ press")
	}
}

func TestEnvErrors(t *testing.T) {
	src := `sources:
  gen:
    type: test_gen
    count: ${EF_SURELY_UNSET_VAR}
    id: ${EF_SURELY_UNSET_VAR} and ${
sinks:
  out: {type: test_collect, into: "${1x}", input: gen}
`
	want := []string{
		// The count is not also called "not an integer": that only
		// repeats the missing variable.
		`pipeline.yaml:4:12: sources.gen.count: environment variable EF_SURELY_UNSET_VAR is not set (write ${EF_SURELY_UNSET_VAR:-default} to give a default, $$ for a literal $)`,
		`pipeline.yaml:5:9: sources.gen.id: environment variable EF_SURELY_UNSET_VAR is not set (write ${EF_SURELY_UNSET_VAR:-default} to give a default, $$ for a literal $)`,
		`pipeline.yaml:7:35: sinks.out.into: bad environment variable name "1x" in ${1x}`,
	}
	got := errorLines(t, src)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("errors:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	got = errorLines(t, "sources:\n  gen:\n    type: test_gen\n    id: x ${EF_ID\nsinks: {}\n")
	if !strings.Contains(got[0], `pipeline.yaml:4:9: sources.gen.id: unterminated "${EF_ID": want ${NAME} or ${NAME:-default}`) {
		t.Errorf("unterminated: %q", got)
	}
}

// Keys are not expanded: ${ in a key is just text (and here an unknown key).
func TestEnvNotInKeys(t *testing.T) {
	t.Setenv("EF_KEY", "count")
	got := errorLines(t, "sources:\n  gen:\n    type: test_gen\n    ${EF_KEY}: 3\nsinks: {}\n")
	if !strings.Contains(strings.Join(got, "\n"), `pipeline.yaml:4:5: sources.gen.${EF_KEY}: unknown key`) {
		t.Errorf("errors = %q", got)
	}
}
