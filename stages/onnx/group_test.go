package onnx

import (
	"testing"

	"github.com/edgeflow/edgeflow/models"
)

func TestGroupByShape(t *testing.T) {
	smp := func(idx int, shapes ...[]int64) sample {
		s := sample{idx: idx}
		for _, sh := range shapes {
			s.ins = append(s.ins, models.Tensor{Shape: sh})
		}
		return s
	}
	if g := groupByShape(nil); g != nil {
		t.Fatalf("no samples: %v, want nil", g)
	}
	same := []sample{smp(0, []int64{4}, []int64{2, 3}), smp(1, []int64{4}, []int64{2, 3})}
	if g := groupByShape(same); g != nil {
		t.Fatalf("one shape: %v, want nil (run together)", g)
	}
	// Shapes that would print alike if joined without separators stay apart.
	mixed := []sample{
		smp(0, []int64{4}, []int64{2, 3}),
		smp(1, []int64{8}, []int64{2, 3}),
		smp(2, []int64{4}, []int64{2, 3}),
		smp(3, []int64{4, 2}, []int64{3}),
	}
	g := groupByShape(mixed)
	want := [][]int{{0, 2}, {1}, {3}}
	if len(g) != len(want) {
		t.Fatalf("%d groups, want %d", len(g), len(want))
	}
	for i, group := range g {
		if len(group) != len(want[i]) {
			t.Fatalf("group %d has %d samples, want %v", i, len(group), want[i])
		}
		for j, s := range group {
			if s.idx != want[i][j] {
				t.Fatalf("group %d = sample %d at %d, want %v", i, s.idx, j, want[i])
			}
		}
	}
}
