//go:build !gocv

package annotate

import (
	"strings"
	"testing"

	"github.com/edgeflow/edgeflow/component"
	"github.com/edgeflow/edgeflow/pipeline"
)

// Without OpenCV the sink is known but configuring it says how to build it.
func TestWithoutOpenCVSaysHowToBuild(t *testing.T) {
	spec, ok := component.Lookup(pipeline.KindSink, "annotate")
	if !ok {
		t.Fatal("annotate is not registered without the gocv tag")
	}
	_, err := spec.New(&component.Config{}, &component.Resources{})
	if err == nil || !strings.Contains(err.Error(), "-tags gocv") {
		t.Fatalf("err = %v, want one that says how to build with OpenCV", err)
	}
}
