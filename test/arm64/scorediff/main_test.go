package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// write stores windows as the file sink's envelopes: one per (key, time,
// score), alert when score >= 0.5.
func write(t *testing.T, name string, rows ...string) string {
	t.Helper()
	var b strings.Builder
	for _, r := range rows {
		var key, ts string
		var score float64
		if _, err := fmt.Sscanf(r, "%s %s %g", &key, &ts, &score); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, `{"key":%q,"source_time":%q,"fields":{"alert":%v,"ready":true,"error":%g,"likelihood":0.9,"score":%g}}`+"\n",
			key, ts, score >= 0.5, 1+score, score)
	}
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestRun(t *testing.T) {
	ref := write(t, "ref", "a t1 0.1", "a t1 0.2", "b t1 0.7")
	for _, c := range []struct {
		name  string
		other []string
		fail  string
	}{
		{"same, in another order", []string{"b t1 0.7", "a t1 0.1", "a t1 0.2"}, ""},
		{"within tolerance", []string{"a t1 0.1005", "a t1 0.2", "b t1 0.7"}, ""},
		// The second window at a repeated time is matched to the second.
		{"repeated time matched in order", []string{"a t1 0.2", "a t1 0.1", "b t1 0.7"}, "scores differ"},
		{"score off", []string{"a t1 0.1", "a t1 0.2", "b t1 0.69"}, "scores differ"},
		{"alert lost away from the threshold", []string{"a t1 0.1", "a t1 0.2", "b t1 0.3"}, "alerts differ"},
		{"window missing", []string{"a t1 0.1", "b t1 0.7"}, "windows"},
		{"other window", []string{"a t1 0.1", "a t1 0.2", "c t1 0.7"}, "only"},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := run(ref, write(t, "other", c.other...), 1e-3, 1e-2, 0.5)
			switch {
			case c.fail == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case c.fail != "" && (err == nil || !strings.Contains(err.Error(), c.fail)):
				t.Fatalf("error %v, want one containing %q", err, c.fail)
			}
		})
	}
}

func TestRunAlertAtThreshold(t *testing.T) {
	// A score that crosses the threshold by less than the tolerance may
	// flip the alert.
	ref := write(t, "ref", "a t1 0.4996")
	if err := run(ref, write(t, "other", "a t1 0.5001"), 1e-3, 1e-2, 0.5); err != nil {
		t.Fatal(err)
	}
}

func TestLoadRejectsBadLine(t *testing.T) {
	p := filepath.Join(t.TempDir(), "bad")
	if err := os.WriteFile(p, []byte("{\"key\":\"a\"}\nnot json\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := load(p); err == nil || !strings.Contains(err.Error(), ":2:") {
		t.Fatalf("error %v, want one naming line 2", err)
	}
}
