// Command mutate is a short mutation check (`make mutate`): it applies
// hand-picked mutations (mutants.go) to the engine, the broker ack paths,
// the NAB scorer and the detection decoders one at a time, runs the tests
// of the packages that should notice, and reports which mutants the tests
// killed and which survived. A surviving mutant is a change in behaviour
// that no test catches.
//
// The source tree is never modified: each mutated file is written to a
// temporary directory and handed to `go test -overlay`.
//
//	go run ./internal/mutate [-run REGEXP] [-timeout 5m] > report.md
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"
)

// mutant is one hand-made change to one file.
type mutant struct {
	Name string
	File string // relative to the module root
	Old  string // must occur exactly once in File
	New  string
	Pkgs []string // packages whose tests should kill it
	Why  string   // the behaviour it breaks
}

// outcome of one mutant.
type outcome struct {
	m       mutant
	status  string // killed, survived, invalid (did not apply or build), timeout
	detail  string // failing tests, or why invalid
	elapsed time.Duration
}

func main() {
	runRe := flag.String("run", "", "only mutants whose name matches this regexp")
	timeout := flag.Duration("timeout", 5*time.Minute, "go test timeout per mutant")
	flag.Parse()
	re, err := regexp.Compile(*runRe)
	if err != nil {
		fmt.Fprintf(os.Stderr, "mutate: -run: %v\n", err)
		os.Exit(2)
	}
	var selected []mutant
	for _, m := range mutants {
		if re.MatchString(m.Name) {
			selected = append(selected, m)
		}
	}
	if len(selected) == 0 {
		fmt.Fprintf(os.Stderr, "mutate: no mutant matches -run %q\n", *runRe)
		os.Exit(2)
	}
	tmp, err := os.MkdirTemp("", "edgeflow-mutate-")
	if err != nil {
		fmt.Fprintf(os.Stderr, "mutate: %v\n", err)
		os.Exit(2)
	}
	defer os.RemoveAll(tmp)
	r := runner{root: ".", tmp: tmp, timeout: *timeout, log: os.Stderr}
	if err := r.baseline(selected); err != nil {
		fmt.Fprintf(os.Stderr, "mutate: the unmutated tests fail, so no mutant can be judged:\n%v\n", err)
		os.Exit(1)
	}
	var results []outcome
	for i, m := range selected {
		o := r.try(m)
		fmt.Fprintf(os.Stderr, "[%d/%d] %-32s %-8s %5.1fs %s\n", i+1, len(selected), m.Name, o.status, o.elapsed.Seconds(), o.detail)
		results = append(results, o)
	}
	report(os.Stdout, results)
}

// runner runs go test on mutated copies of files.
type runner struct {
	root    string
	tmp     string
	timeout time.Duration
	log     io.Writer
}

// baseline runs every package's tests once without a mutant.
func (r *runner) baseline(ms []mutant) error {
	var pkgs []string
	for _, m := range ms {
		pkgs = append(pkgs, m.Pkgs...)
	}
	slices.Sort(pkgs)
	pkgs = slices.Compact(pkgs)
	fmt.Fprintf(r.log, "baseline: go test %s\n", strings.Join(pkgs, " "))
	out, code, _ := r.goTest("", pkgs)
	if code != 0 {
		return fmt.Errorf("%s", out)
	}
	return nil
}

// try applies m in an overlay and runs its packages' tests.
func (r *runner) try(m mutant) (o outcome) {
	start := time.Now()
	o.m = m
	defer func() { o.elapsed = time.Since(start) }()
	src, err := os.ReadFile(filepath.Join(r.root, m.File))
	if err != nil {
		o.status, o.detail = "invalid", err.Error()
		return o
	}
	if n := strings.Count(string(src), m.Old); n != 1 {
		o.status, o.detail = "invalid", fmt.Sprintf("the original text occurs %d times in %s, want once", n, m.File)
		return o
	}
	dir := filepath.Join(r.tmp, m.Name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		o.status, o.detail = "invalid", err.Error()
		return o
	}
	mutated := filepath.Join(dir, filepath.Base(m.File))
	abs, _ := filepath.Abs(filepath.Join(r.root, m.File))
	overlay, _ := json.Marshal(map[string]map[string]string{"Replace": {abs: mutated}})
	overlayPath := filepath.Join(dir, "overlay.json")
	if err := os.WriteFile(mutated, []byte(strings.Replace(string(src), m.Old, m.New, 1)), 0o644); err != nil {
		o.status, o.detail = "invalid", err.Error()
		return o
	}
	if err := os.WriteFile(overlayPath, overlay, 0o644); err != nil {
		o.status, o.detail = "invalid", err.Error()
		return o
	}
	out, code, timedOut := r.goTest(overlayPath, m.Pkgs)
	switch {
	case code == 0:
		o.status = "survived"
	case timedOut:
		o.status, o.detail = "killed", "timeout"
	case strings.Contains(out, "[build failed]") || strings.Contains(out, "[setup failed]"):
		o.status, o.detail = "invalid", "does not build: "+firstLine(out)
	default:
		o.status, o.detail = "killed", failedTests(out)
	}
	return o
}

// goTest runs the tests of pkgs, with an overlay file when given, and
// returns the combined output and exit status.
func (r *runner) goTest(overlay string, pkgs []string) (string, int, bool) {
	ctx, cancel := context.WithTimeout(context.Background(), r.timeout+time.Minute)
	defer cancel()
	args := []string{"test", "-count=1", "-timeout", r.timeout.String()}
	if overlay != "" {
		args = append(args, "-overlay", overlay)
	}
	cmd := exec.CommandContext(ctx, "go", append(args, pkgs...)...)
	cmd.Dir = r.root
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	code := 0
	if err != nil {
		code = 1
	}
	timedOut := ctx.Err() != nil || strings.Contains(out.String(), "panic: test timed out")
	return out.String(), code, timedOut
}

var failRe = regexp.MustCompile(`(?m)^\s*--- FAIL: (\S+)`)

// failedTests names the failing tests in go test output (top-level first).
func failedTests(out string) string {
	var names []string
	for _, m := range failRe.FindAllStringSubmatch(out, -1) {
		if !slices.Contains(names, m[1]) {
			names = append(names, m[1])
		}
	}
	if len(names) == 0 {
		return firstLine(out)
	}
	if len(names) > 4 {
		names = append(names[:4], fmt.Sprintf("and %d more", len(names)-4))
	}
	return strings.Join(names, ", ")
}

func firstLine(s string) string {
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
			return l
		}
	}
	return ""
}

// report writes the results as Markdown: surviving mutants first.
func report(w io.Writer, results []outcome) {
	count := map[string]int{}
	for _, o := range results {
		count[o.status]++
	}
	fmt.Fprintf(w, "%d mutants: %d killed, %d survived, %d invalid.\n\n", len(results), count["killed"], count["survived"], count["invalid"])
	for _, status := range []string{"survived", "invalid", "killed"} {
		if count[status] == 0 {
			continue
		}
		fmt.Fprintf(w, "### %s (%d)\n\n| mutant | change | breaks | tests (%s) |\n| --- | --- | --- | --- |\n", status, count[status], map[string]string{
			"survived": "that should notice", "invalid": "reason", "killed": "that failed"}[status])
		for _, o := range results {
			if o.status != status {
				continue
			}
			detail := o.detail
			if status == "survived" {
				detail = strings.Join(o.m.Pkgs, " ")
			}
			fmt.Fprintf(w, "| %s | `%s`: `%s` → `%s` | %s | %s |\n", o.m.Name, o.m.File, cell(o.m.Old), cell(o.m.New), o.m.Why, cell(detail))
		}
		fmt.Fprintln(w)
	}
}

// cell makes s fit in one Markdown table cell.
func cell(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	return strings.ReplaceAll(s, "|", `\|`)
}
