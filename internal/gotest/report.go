package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
)

// event is one line of `go test -json` (cmd/test2json).
type event struct {
	Action     string
	Package    string
	Test       string
	Output     string
	ImportPath string // build-output events
}

// skip is a test that skipped, with what it logged (its reason).
type skip struct {
	Package, Test, Reason string
}

// line is one line of a package's output and the test that printed it
// ("" for the package itself).
type line struct{ test, text string }

// pkgState buffers a package's output until it ends, as go test does
// without -v.
type pkgState struct {
	lines  []line
	result map[string]string // test -> pass, fail or skip
}

// reporter prints what a plain `go test` prints and collects skips.
type reporter struct {
	w     io.Writer
	pkgs  map[string]*pkgState
	skips []skip
}

func newReporter(w io.Writer) *reporter {
	return &reporter{w: w, pkgs: map[string]*pkgState{}}
}

// read consumes go test -json output until EOF. Lines that are not JSON
// are printed as they are.
func (r *reporter) read(in io.Reader) error {
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 0, 64<<10), 16<<20)
	for sc.Scan() {
		var e event
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil || e.Action == "" {
			fmt.Fprintln(r.w, sc.Text())
			continue
		}
		r.handle(e)
	}
	// Packages that never ended (go test killed): print what they said.
	for _, name := range sortedKeys(r.pkgs) {
		r.flush(name, true)
	}
	return sc.Err()
}

func (r *reporter) state(pkg string) *pkgState {
	p := r.pkgs[pkg]
	if p == nil {
		p = &pkgState{result: map[string]string{}}
		r.pkgs[pkg] = p
	}
	return p
}

func (r *reporter) handle(e event) {
	switch e.Action {
	case "build-output":
		io.WriteString(r.w, e.Output)
	case "output":
		p := r.state(e.Package)
		p.lines = append(p.lines, line{e.Test, e.Output})
	case "pass", "fail", "skip":
		if e.Test == "" {
			r.flush(e.Package, e.Action == "fail")
			return
		}
		p := r.state(e.Package)
		p.result[e.Test] = e.Action
		if e.Action == "skip" {
			r.skips = append(r.skips, skip{Package: e.Package, Test: e.Test, Reason: reason(p.lines, e.Test)})
		}
	}
}

// flush prints a finished package: its own lines (but the bare "PASS"),
// and when it failed, the output of every test that did not pass or skip
// (a test killed by a panic or a timeout has no result).
func (r *reporter) flush(pkg string, failed bool) {
	p := r.pkgs[pkg]
	if p == nil {
		return
	}
	delete(r.pkgs, pkg)
	for _, l := range p.lines {
		if l.test == "" {
			if l.text != "PASS\n" || failed {
				io.WriteString(r.w, l.text)
			}
			continue
		}
		if !failed || strings.HasPrefix(l.text, "=== ") {
			continue
		}
		if res := p.result[l.test]; res == "pass" || res == "skip" {
			continue
		}
		io.WriteString(r.w, l.text)
	}
}

// reason is what test logged, without the === and --- lines.
func reason(lines []line, test string) string {
	var out []string
	for _, l := range lines {
		if l.test != test || strings.HasPrefix(l.text, "=== ") || strings.HasPrefix(strings.TrimSpace(l.text), "--- SKIP") {
			continue
		}
		if s := strings.TrimSpace(l.text); s != "" {
			out = append(out, s)
		}
	}
	return strings.Join(out, " | ")
}

// skipReport prints the skips, allowed ones with the allow-list's reason,
// and reports whether every one was allowed.
func (r *reporter) skipReport(allow allowList, w io.Writer) bool {
	if len(r.skips) == 0 {
		return true
	}
	var bad, ok []string
	for _, s := range r.skips {
		if a := allow.match(s.Package, s.Test); a != nil {
			ok = append(ok, fmt.Sprintf("  %s %s: %s (allowed: %s)", s.Package, s.Test, s.Reason, a.reason))
		} else {
			bad = append(bad, fmt.Sprintf("  %s %s: %s", s.Package, s.Test, s.Reason))
		}
	}
	if len(ok) > 0 {
		fmt.Fprintf(w, "gotest: %d allowed skips:\n%s\n", len(ok), strings.Join(ok, "\n"))
	}
	if len(bad) > 0 {
		fmt.Fprintf(w, "FAIL: %d tests skipped that the allow-list does not name (a missing dependency? run `make deps`):\n%s\n",
			len(bad), strings.Join(bad, "\n"))
		return false
	}
	return true
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
