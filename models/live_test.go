package models_test

import (
	"testing"

	"github.com/edgeflow/edgeflow/models"
)

// TestLiveTensorsReturnToBaseline runs a model at the shapes that take each
// path of Session.Run (reused buffers, a wrapped large input, a wrapped
// large output, a batch size that replaces the reused buffers) and checks
// that the live-tensor count rises while the model holds buffers and falls
// back to where it started once the model is closed; likewise sessions.
func TestLiveTensorsReturnToBaseline(t *testing.T) {
	mlp := newMLP()
	tensors0, sessions0 := models.LiveTensors(), models.LiveSessions()
	m := openMLP(t, mlp, models.LoadOptions{Options: models.Options{IntraOpThreads: 1}})
	if got := models.LiveSessions(); got != sessions0+1 {
		t.Fatalf("live sessions after open = %d, want %d", got, sessions0+1)
	}
	run := func(batch int) {
		t.Helper()
		data := make([]float32, 0, batch*mlp.In)
		for i := range batch {
			data = append(data, mlp.Input(uint64(i))...)
		}
		if _, err := m.Run([]models.Tensor{{Shape: []int64{int64(batch), int64(mlp.In)}, Data: data}}); err != nil {
			t.Fatal(err)
		}
	}
	run(1)
	held := models.LiveTensors()
	if held != tensors0+2 {
		t.Fatalf("live tensors after one small run = %d, want %d (one reused input and output)", held, tensors0+2)
	}
	for range 100 {
		run(1) // reuses the buffers: no tensor more
	}
	if got := models.LiveTensors(); got != held {
		t.Fatalf("live tensors after 100 more runs = %d, want %d", got, held)
	}
	// 2000x16 inputs wrap Go memory (their output is reused); 5000 rows
	// wrap the output too; the batch sizes differ, so the buffers are
	// replaced each time.
	for _, batch := range []int{2000, 5000, 3, 2000, 1} {
		run(batch)
	}
	if got := models.LiveTensors(); got < tensors0+1 || got > tensors0+2 {
		t.Fatalf("live tensors after runs of other shapes = %d, want the one set of reused buffers (%d..%d)", got, tensors0+1, tensors0+2)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if got := models.LiveTensors(); got != tensors0 {
		t.Errorf("live tensors after close = %d, want %d", got, tensors0)
	}
	if got := models.LiveSessions(); got != sessions0 {
		t.Errorf("live sessions after close = %d, want %d", got, sessions0)
	}
}

// TestLiveSessionsFlatOverReloads swaps the model repeatedly: the old
// sessions are closed, so the count stays at one per model.
func TestLiveSessionsFlatOverReloads(t *testing.T) {
	mlp := newMLP()
	sessions0, tensors0 := models.LiveSessions(), models.LiveTensors()
	m := openMLP(t, mlp, models.LoadOptions{Options: models.Options{IntraOpThreads: 1}})
	in := []models.Tensor{{Shape: []int64{1, int64(mlp.In)}, Data: mlp.Input(1)}}
	for range 5 {
		if _, err := m.Run(in); err != nil {
			t.Fatal(err)
		}
		if err := m.Reload(); err != nil {
			t.Fatal(err)
		}
	}
	if got := models.LiveSessions(); got != sessions0+1 {
		t.Errorf("live sessions after 5 reloads = %d, want %d", got, sessions0+1)
	}
	if got := models.LiveTensors(); got != tensors0 {
		t.Errorf("live tensors after 5 reloads = %d, want %d (the new session has run nothing)", got, tensors0)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if got := models.LiveSessions(); got != sessions0 {
		t.Errorf("live sessions after close = %d, want %d", got, sessions0)
	}
}
