package componenttest

import (
	"context"
	"testing"

	"github.com/edgeflow/edgeflow/pipeline"
)

// A collected message keeps its arrays as they were written, although the
// message they came from is reused and its arrays refilled (SetSlice).
func TestCollectorKeepsArraysAsWritten(t *testing.T) {
	m := pipeline.NewMessage(nil)
	values := pipeline.SetSlice[float32](m, "window", 2)
	values[0], values[1] = 1, 2
	var c Collector
	if err := c.Write(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	values[0] = 99
	got := c.Messages()[0].Fields["window"].([]float32)
	if got[0] != 1 || got[1] != 2 {
		t.Errorf("collected window reads %v after its source array changed, want [1 2]", got)
	}
}
