package onnx

import (
	"context"
	"math"
	"slices"
	"testing"

	"github.com/edgeflow/edgeflow/models/modeltest"
	"github.com/edgeflow/edgeflow/pipeline"
)

// counter is an Emitter that counts and drops.
type counter struct{ n int }

func (c *counter) Emit(*pipeline.Message) { c.n++ }

// mlpStage is the stage over a small MLP (16-32-4, one thread) that reads
// field window and writes score.
func mlpStage(t *testing.T) (*Stage, *modeltest.MLP) {
	t.Helper()
	modeltest.RequireRuntime(t)
	dir := t.TempDir()
	mlp := &modeltest.MLP{In: 16, Hidden: 32, Out: 4, Seed: 9}
	mlp.Write(t, dir, "mlp.onnx")
	stage, err := build(t, dir, "{model: mlp.onnx, inputs: {x: window}, outputs: {y: score}, threads: 1}")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stage.Close(context.Background()) })
	return stage, mlp
}

// TestProcessBatchAllocations guards the batch-1 path, where a 12 µs model
// makes the stage's own work show: one message allocates only what it
// keeps (the output's data and shape and their boxes in Fields) and what
// Session.Run and the batched input shape need, nothing per input or per
// clock reading.
func TestProcessBatchAllocations(t *testing.T) {
	stage, mlp := mlpStage(t)
	x := mlp.Input(5)
	m := pipeline.NewMessage(nil)
	m.Fields = map[string]any{"window": x}
	batch := []*pipeline.Message{m}
	out := &counter{}
	if errs := stage.ProcessBatch(context.Background(), batch, out); errs != nil {
		t.Fatal(errs)
	}
	allocs := testing.AllocsPerRun(200, func() {
		if errs := stage.ProcessBatch(context.Background(), batch, out); errs != nil {
			t.Fatal(errs)
		}
	})
	t.Logf("%v allocations per message", allocs)
	// Session.RunInto: the output's data and shape; the stage: the two
	// boxed field values (the results and the input's batched shape are
	// reused). The race detector allocates on its own.
	if !raceEnabled && allocs > 4 {
		t.Errorf("ProcessBatch of one message allocates %v times, want at most 4", allocs)
	}
	if out.n != 201+1 {
		t.Errorf("%d messages emitted, want %d", out.n, 202)
	}
	y, ok := m.Fields["score"].([]float32)
	if !ok {
		t.Fatalf("score is %T", m.Fields["score"])
	}
	want := mlp.Forward(x)
	for k := range want {
		if math.Abs(float64(y[k]-want[k])) > 1e-4 {
			t.Fatalf("score %v, want %v", y, want)
		}
	}
	if shape, _ := m.Fields["score_shape"].([]int64); len(shape) != 2 || shape[0] != 1 || shape[1] != int64(mlp.Out) {
		t.Errorf("score_shape %v, want [1 %d]", m.Fields["score_shape"], mlp.Out)
	}
}

// TestReusedMessageAllocatesNothing runs the stage on a message that its
// component reuses (as the window stage does its windows): the outputs go
// into the slices the message's last use had, so a run at batch 1
// allocates nothing of the stage's own, and the values are this run's.
func TestReusedMessageAllocatesNothing(t *testing.T) {
	stage, mlp := mlpStage(t)
	var m pipeline.Message
	fields := map[string]any{}
	inputs := [][]float32{mlp.Input(5), mlp.Input(6)}
	batch, out := []*pipeline.Message{&m}, &counter{}
	use := func(i int) {
		m.Reset(fields) // what the owner does once the message settled
		copy(pipeline.SetSlice[float32](&m, "window", mlp.In), inputs[i%2])
		if errs := stage.ProcessBatch(context.Background(), batch, out); errs != nil {
			t.Fatal(errs)
		}
	}
	use(0)
	first := m.Fields["score"].([]float32)
	use(1)
	allocs := testing.AllocsPerRun(100, func() { use(1) })
	if !raceEnabled && allocs > 0 {
		t.Errorf("a run on a reused message allocates %v times, want none", allocs)
	}
	use(0)
	y := m.Fields["score"].([]float32)
	if &y[0] != &first[0] {
		t.Errorf("the output went into a new slice, want the message's last one")
	}
	want := mlp.Forward(inputs[0])
	for k := range want {
		if math.Abs(float64(y[k]-want[k])) > 1e-4 {
			t.Fatalf("score %v, want %v", y, want)
		}
	}
	if shape, _ := m.Fields["score_shape"].([]int64); !slices.Equal(shape, []int64{1, int64(mlp.Out)}) {
		t.Errorf("score_shape %v, want [1 %d]", m.Fields["score_shape"], mlp.Out)
	}
}

// TestOneShape checks the reused batch-1 input shape follows the sample's
// shape and never rewrites a shape it handed out.
func TestOneShape(t *testing.T) {
	s := &Stage{}
	a := s.oneShape(0, []int64{64})
	if b := s.oneShape(0, []int64{64}); &a[0] != &b[0] {
		t.Errorf("same sample shape: a new slice, want the one made before")
	}
	c := s.oneShape(0, []int64{8, 8})
	if !slices.Equal(a, []int64{1, 64}) || !slices.Equal(c, []int64{1, 8, 8}) {
		t.Errorf("shapes %v, %v; want [1 64], [1 8 8]", a, c)
	}
	if d := s.oneShape(maxStackInputs, []int64{3}); !slices.Equal(d, []int64{1, 3}) {
		t.Errorf("input past the cached ones: %v, want [1 3]", d)
	}
}
