// Command gotest runs `go test -json` with the given arguments, prints what
// a plain `go test` would (the "ok"/"FAIL" line of each package and the
// output of failed tests), and fails when a test skipped without an entry
// in the allow-list: a skip usually means a dependency CI is supposed to
// have (ONNX Runtime, OpenCV, a broker, ../shared models and data) is
// missing, and every package would still say ok.
//
//	go run ./internal/gotest -allow test/skips.allow -- -race -count=1 ./...
//
// The allow-list has one skip a line: the package (import path, or ./dir
// relative to the module), the test name (a trailing * matches any suffix,
// such as subtests), and the reason, which is required. '#' starts a
// comment. The exit status is go test's when it failed, else 1 when a skip
// is not allowed, else 0.
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
)

func main() {
	allowPath := flag.String("allow", "", "allow-list of legitimate skips (see the package doc)")
	flag.Usage = func() {
		fmt.Fprintln(os.Stderr, "usage: gotest [-allow FILE] -- GO-TEST-ARGS...")
		flag.PrintDefaults()
	}
	flag.Parse()
	os.Exit(run(".", *allowPath, flag.Args(), os.Stdout, os.Stderr))
}

// run runs go test in dir (the module's root) and returns the exit status.
func run(dir, allowPath string, args []string, stdout, stderr io.Writer) int {
	var allow allowList
	if allowPath != "" {
		data, err := os.ReadFile(allowPath)
		if err != nil {
			fmt.Fprintf(stderr, "gotest: %v\n", err)
			return 2
		}
		gomod, _ := os.ReadFile(filepath.Join(dir, "go.mod")) // ./dir entries are relative to this module
		if allow, err = parseAllowList(allowPath, string(data), modulePath(string(gomod))); err != nil {
			fmt.Fprintf(stderr, "gotest: %v\n", err)
			return 2
		}
	}
	goBin := os.Getenv("GO")
	if goBin == "" {
		goBin = "go"
	}
	cmd := exec.Command(goBin, append([]string{"test", "-json"}, args...)...)
	cmd.Dir, cmd.Stderr = dir, stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		fmt.Fprintf(stderr, "gotest: %v\n", err)
		return 2
	}
	if err := cmd.Start(); err != nil {
		fmt.Fprintf(stderr, "gotest: %v\n", err)
		return 2
	}
	r := newReporter(stdout)
	if err := r.read(out); err != nil {
		fmt.Fprintf(stderr, "gotest: reading go test's output: %v\n", err)
	}
	code := 0
	if err := cmd.Wait(); err != nil {
		code = 1
		if ee, ok := err.(*exec.ExitError); ok && ee.ExitCode() > 0 {
			code = ee.ExitCode()
		}
	}
	if code != 0 {
		fmt.Fprintln(stdout, "FAIL") // go test's closing line, which -json leaves out
	}
	if !r.skipReport(allow, stdout) && code == 0 {
		code = 1
	}
	return code
}
