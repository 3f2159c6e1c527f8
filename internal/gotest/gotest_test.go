package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/edgeflow/edgeflow/internal/syncbuf"
)

// module writes a throwaway module with the given files.
func module(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	files["go.mod"] = "module example.com/m\n\ngo 1.26\n"
	for name, body := range files {
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

const skipping = `package a

import "testing"

func TestPass(t *testing.T) { t.Log("quiet when it passes") }
func TestNoRuntime(t *testing.T) { t.Skip("skipping: no ONNX Runtime") }
func TestSub(t *testing.T) {
	t.Run("x", func(t *testing.T) { t.Skip("no broker") })
}
`

func TestSkipsFailUnlessAllowed(t *testing.T) {
	dir := module(t, map[string]string{"a/a_test.go": skipping, "allow": "# legit\n./a TestSub/* brokers are optional here\n"})
	var out syncbuf.Buffer
	code := run(dir, filepath.Join(dir, "allow"), []string{"-count=1", "./..."}, &out, &out)
	got := out.String()
	t.Log(got)
	if code != 1 {
		t.Errorf("exit %d, want 1: a skip the allow-list does not name", code)
	}
	for _, want := range []string{
		"ok  \texample.com/m/a",
		"FAIL: 1 tests skipped",
		"example.com/m/a TestNoRuntime: a_test.go:6: skipping: no ONNX Runtime",
		"1 allowed skips",
		"TestSub/x: a_test.go:8: no broker (allowed: brokers are optional here)",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	if strings.Contains(got, "quiet when it passes") || strings.Contains(got, "=== RUN") {
		t.Error("passing tests' output printed")
	}

	if err := os.WriteFile(filepath.Join(dir, "allow"), []byte("./a TestSub/x optional\nexample.com/m/a TestNoRuntime optional too\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	if code := run(dir, filepath.Join(dir, "allow"), []string{"-count=1", "./..."}, &out, &out); code != 0 {
		t.Errorf("exit %d with every skip allowed:\n%s", code, out.String())
	}
}

func TestFailuresPrintedAndPropagated(t *testing.T) {
	dir := module(t, map[string]string{
		"b/b_test.go": `package b

import "testing"

func TestPass(t *testing.T) { t.Log("quiet") }
func TestFail(t *testing.T) { t.Log("before"); t.Fatal("boom") }
`,
		"c/c.go": "package c\n\nfunc F() int { return \"x\" }\n",
	})
	var out syncbuf.Buffer
	code := run(dir, "", []string{"-count=1", "./..."}, &out, &out)
	got := out.String()
	t.Log(got)
	if code == 0 {
		t.Error("exit 0 with a failing test and a build error")
	}
	for _, want := range []string{"b_test.go:6: before", "b_test.go:6: boom", "--- FAIL: TestFail", "FAIL\texample.com/m/b",
		"c.go:3", "FAIL\texample.com/m/c [build failed]", "\nFAIL\n"} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	if strings.Contains(got, "quiet") {
		t.Error("a passing test's log printed")
	}
}

func TestAllowListNeedsReasons(t *testing.T) {
	if _, err := parseAllowList("skips.allow", "./a TestX\n", "m"); err == nil || !strings.Contains(err.Error(), "skips.allow:1") {
		t.Errorf("entry without a reason: %v", err)
	}
	l, err := parseAllowList("skips.allow", "\n# c\n./a/b TestX*  a reason  # comment\n", "example.com/m")
	if err != nil {
		t.Fatal(err)
	}
	if a := l.match("example.com/m/a/b", "TestXY/z"); a == nil || a.reason != "a reason" {
		t.Errorf("match: %+v", a)
	}
	if l.match("example.com/m/x/a/b", "TestX") != nil || l.match("example.com/m/a/b", "TestY") != nil {
		t.Error("matched another package or test")
	}
	if got := modulePath("// c\nmodule  example.com/m \n\ngo 1.26\n"); got != "example.com/m" {
		t.Errorf("module %q", got)
	}
}
