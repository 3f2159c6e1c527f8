package config_test

import (
	"context"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/edgeflow/edgeflow/config"
	"github.com/rs/zerolog"
)

// variant returns valid.yaml with the replacements applied.
func variant(t *testing.T, pairs ...string) *config.File {
	t.Helper()
	raw, err := os.ReadFile("testdata/valid.yaml")
	if err != nil {
		t.Fatal(err)
	}
	s := string(raw)
	for i := 0; i < len(pairs); i += 2 {
		if !strings.Contains(s, pairs[i]) {
			t.Fatalf("valid.yaml has no %q", pairs[i])
		}
		s = strings.Replace(s, pairs[i], pairs[i+1], 1)
	}
	f, err := config.Parse([]byte(s), "testdata/valid.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// TestCarryKeepsWhatDidNotChange: a reload reuses the connection and the
// nodes whose settings, inputs and options are the same, never a source, and
// a build with the carry hands the connection over.
func TestCarryKeepsWhatDidNotChange(t *testing.T) {
	ctx := context.Background()
	old := variant(t)
	built, err := old.Build(ctx, config.BuildOptions{Logger: zerolog.Nop(), DryRun: true})
	if err != nil {
		t.Fatal(err)
	}

	// triple's factor changes; double, out and the dead-letter sink do not.
	next := variant(t, "factor: 3", "factor: 4")
	carry := next.CarryFrom(old, built)
	if !slices.Equal(carry.Connections, []string{"broker"}) {
		t.Errorf("carried connections %v, want [broker]", carry.Connections)
	}
	slices.Sort(carry.Components)
	if want := []string{"dead_letter", "double", "out"}; !slices.Equal(carry.Components, want) {
		t.Errorf("carried components %v, want %v", carry.Components, want)
	}
	nb, err := next.Build(ctx, config.BuildOptions{Logger: zerolog.Nop(), DryRun: true, Carry: carry})
	if err != nil {
		t.Fatal(err)
	}
	if nb.Components["out"] != built.Components["out"] || nb.Components["triple"] == built.Components["triple"] {
		t.Error("out should be the same component and triple a new one")
	}
	if nb.Connections["broker"] != built.Connections["broker"] {
		t.Error("the connection was not reused")
	}
	// The old build no longer owns the connection: closing it leaves the
	// connection open for the new one.
	if err := built.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if connNamed("broker").closed {
		t.Error("closing the replaced build closed the carried connection")
	}
	if err := nb.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if !connNamed("broker").closed {
		t.Error("the new build did not close the connection it took over")
	}

	// A changed connection is not carried.
	changed := variant(t, "${EF_TEST_URL:-tcp://127.0.0.1:1883}", "tcp://127.0.0.1:1884")
	if c := changed.CarryFrom(old, built); len(c.Connections) != 0 {
		t.Errorf("a changed connection was carried: %v", c.Connections)
	}
	// Changed engine options (retries) rebuild the node.
	retuned := variant(t, "max: 2", "max: 3")
	if c := retuned.CarryFrom(old, built); slices.Contains(c.Components, "out") {
		t.Errorf("out was carried although its options changed: %v", c.Components)
	}
}
