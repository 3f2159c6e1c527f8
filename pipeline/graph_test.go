package pipeline

import (
	"errors"
	"strings"
	"testing"
)

func TestValidateFindsEveryProblem(t *testing.T) {
	p := New(Options{})
	mustAdd(t, p.AddSource("sensors", &seqSource{}, NodeOptions{}))
	mustAdd(t, p.AddSource("unused", &seqSource{}, NodeOptions{}))
	mustAdd(t, p.AddStage("a", pass, []string{"b"}, NodeOptions{}))
	mustAdd(t, p.AddStage("b", pass, []string{"a", "sensors"}, NodeOptions{}))
	mustAdd(t, p.AddStage("typo", pass, []string{"sensros"}, NodeOptions{}))
	mustAdd(t, p.AddSink("out", &collectSink{}, []string{"b", "typo", "out2"}, NodeOptions{}))
	mustAdd(t, p.AddSink("out2", &collectSink{}, nil, NodeOptions{}))

	err := p.Validate()
	if err == nil {
		t.Fatal("Validate accepted a broken graph")
	}
	want := []string{
		`node "typo", input "sensros": no source or stage is named "sensros" (did you mean "sensors"?)`,
		`node "out", input "out2": "out2" is a sink; only sources and stages can be inputs`,
		`node "out2": sink has no input`,
		`node "unused": the source's output goes nowhere`,
		`cycle: `,
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("missing %q in:\n%v", w, err)
		}
	}
	var ge *GraphError
	if !errors.As(err, &ge) {
		t.Fatal("errors are not *GraphError")
	}
}

func TestValidateAcceptsDiamond(t *testing.T) {
	p := New(Options{})
	mustAdd(t, p.AddSource("src", &seqSource{}, NodeOptions{}))
	mustAdd(t, p.AddStage("left", pass, []string{"src"}, NodeOptions{}))
	mustAdd(t, p.AddStage("right", pass, []string{"src"}, NodeOptions{}))
	mustAdd(t, p.AddSink("out", &collectSink{}, []string{"left", "right"}, NodeOptions{}))
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestAddRejectsDuplicatesAndWrongStages(t *testing.T) {
	p := New(Options{})
	mustAdd(t, p.AddSource("x", &seqSource{}, NodeOptions{}))
	if err := p.AddSink("x", &collectSink{}, []string{"x"}, NodeOptions{}); err == nil {
		t.Error("duplicate name accepted")
	}
	if err := p.AddStage("s", 42, []string{"x"}, NodeOptions{}); err == nil {
		t.Error("a non-processor stage was accepted")
	}
}

func TestParseOverflow(t *testing.T) {
	for _, o := range []Overflow{Block, DropOldest, DropNewest} {
		got, err := ParseOverflow(o.String())
		if err != nil || got != o {
			t.Errorf("ParseOverflow(%q) = %v, %v", o, got, err)
		}
	}
	if _, err := ParseOverflow("newest"); err == nil {
		t.Error("unknown policy accepted")
	}
}
