package main

import (
	"bytes"
	"strings"
	"testing"
)

// Off a terminal, progress is plain lines: no carriage returns or escape
// codes, each line with the description, the count and the rate, ending
// with the finished state.
func TestProgressPlainLines(t *testing.T) {
	var buf bytes.Buffer
	p := newProgress(&buf)
	if p.tty {
		t.Fatal("a buffer is not a terminal")
	}
	for i := 1; i <= 5; i++ {
		p.Step("calibration", i, 5)
	}
	p.Step("sensitivity", 1, -1)
	p.Finish()
	out := buf.String()
	if strings.ContainsAny(out, "\r\x1b") {
		t.Errorf("plain output has carriage returns or escape codes: %q", out)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) < 2 {
		t.Fatalf("want a line per phase at least, got %q", out)
	}
	first := lines[0]
	for _, want := range []string{"calibration", "5/5", "it/s"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if !strings.HasPrefix(first, "calibration") {
		t.Errorf("first line %q does not start with the description", first)
	}
	if !strings.Contains(lines[len(lines)-1], "sensitivity") {
		t.Errorf("last line %q is not the second phase", lines[len(lines)-1])
	}
}

func TestProgressNilIsQuiet(t *testing.T) {
	var p *progress
	p.Step("x", 1, 2)
	p.Bytes("y", 1, 2)
	p.Finish()
}
