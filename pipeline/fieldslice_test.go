package pipeline

import (
	"math"
	"testing"
)

// reused is a message as its component makes it for its first use.
func reused() (*Message, map[string]any) {
	m, fields := &Message{}, map[string]any{}
	m.Reset(fields)
	return m, fields
}

func TestSetSliceOnAFreshMessage(t *testing.T) {
	m := NewMessage(nil)
	s := SetSlice[float32](m, "y", 3)
	if len(s) != 3 {
		t.Fatalf("len %d, want 3", len(s))
	}
	s[0] = 7
	if got := m.Fields["y"].([]float32); &got[0] != &s[0] {
		t.Errorf("field y is not the slice returned")
	}
	if m.reuse != nil {
		t.Errorf("a message nobody reuses keeps slices for reuse")
	}
}

func TestSetSliceHandsBackTheLastUsesSlices(t *testing.T) {
	m, fields := reused()
	y := SetSlice[float32](m, "y", 4)
	shape := SetSlice[int64](m, "y_shape", 2)
	m.Fields["other"] = "kept only for this use"

	m.Reset(fields)
	if len(m.Fields) != 0 {
		t.Fatalf("fields after Reset: %v, want none", m.Fields)
	}
	// Asked for in another order: each comes back by type and length.
	shape2 := SetSlice[int64](m, "y_shape", 2)
	y2 := SetSlice[float32](m, "y", 4)
	if &y2[0] != &y[0] || &shape2[0] != &shape[0] {
		t.Errorf("new slices after Reset, want the last use's")
	}
	// A length that fits none of them is a new slice.
	z := SetSlice[float32](m, "z", 5)
	if &z[0] == &y[0] {
		t.Errorf("a slice of another length was handed out")
	}

	m.Reset(fields)
	allocs := testing.AllocsPerRun(100, func() {
		m.Reset(fields)
		SetSlice[float32](m, "y", 4)
		SetSlice[int64](m, "y_shape", 2)
		SetSlice[float32](m, "z", 5)
	})
	if !raceEnabled && allocs != 0 {
		t.Errorf("refilling a reused message allocates %v times, want 0", allocs)
	}
}

func TestSetSliceNeverHandsOutOneSliceTwice(t *testing.T) {
	m, fields := reused()
	a := SetSlice[float32](m, "y", 2)
	b := SetSlice[float32](m, "y", 2) // a second stage writing the same field
	m.Reset(fields)
	c := SetSlice[float32](m, "y", 2)
	d := SetSlice[float32](m, "w", 2)
	e := SetSlice[float32](m, "w", 2)
	seen := map[*float32]string{}
	for name, s := range map[string][]float32{"c": c, "d": d, "e": e} {
		if other, ok := seen[&s[0]]; ok {
			t.Errorf("%s and %s share memory", name, other)
		}
		seen[&s[0]] = name
	}
	if _, ok := seen[&a[0]]; !ok {
		t.Errorf("a was not handed out again")
	}
	if _, ok := seen[&b[0]]; !ok {
		t.Errorf("b was not handed out again")
	}
}

func TestUntakenSlicesAreDropped(t *testing.T) {
	m, fields := reused()
	y := SetSlice[float32](m, "y", 2)
	m.Reset(fields) // y is spare; this use does not take it
	m.Reset(fields)
	if again := SetSlice[float32](m, "y", 2); &again[0] == &y[0] {
		t.Errorf("a slice left untaken for a whole use was handed out")
	}
}

func TestCopiesDoNotShareSpareSlices(t *testing.T) {
	m, fields := reused()
	y := SetSlice[float32](m, "y", 2)
	m.Reset(fields)
	// A fan-out copy and a derived message are other messages: they get
	// slices of their own, and the original keeps its spare one.
	for name, other := range map[string]*Message{"clone": m.Clone(), "derived": m.Derive()} {
		if s := SetSlice[float32](other, "y", 2); &s[0] == &y[0] {
			t.Errorf("%s: got the original's spare slice", name)
		}
	}
	if s := SetSlice[float32](m, "y", 2); &s[0] != &y[0] {
		t.Errorf("the original lost its spare slice to a copy")
	}
}

// Under the race detector, which the tests run with, a field's array that
// a component kept past settlement loses its values as soon as the message
// is reset: a breach of SetSlice's contract shows in the first test that
// reads what it kept.
func TestResetPoisonsKeptArraysUnderRace(t *testing.T) {
	m, fields := reused()
	kept := SetSlice[float64](m, "y", 2)
	kept[0], kept[1] = 1, 2
	counts := SetSlice[int](m, "n", 1)
	counts[0] = 5
	m.Reset(fields)
	if !raceEnabled {
		if kept[0] != 1 || counts[0] != 5 {
			t.Errorf("without the race detector Reset changed the arrays: %v %v", kept, counts)
		}
		return
	}
	if !math.IsNaN(kept[0]) || !math.IsNaN(kept[1]) || counts[0] != 0 {
		t.Errorf("after Reset the kept arrays still read %v and %v", kept, counts)
	}
}
