//go:build !gocv

package image

import (
	"strings"
	"testing"

	"github.com/edgeflow/edgeflow/component"
	"github.com/edgeflow/edgeflow/pipeline"
)

func TestWithoutOpenCVSaysHowToBuild(t *testing.T) {
	spec, ok := component.Lookup(pipeline.KindStage, "image")
	if !ok {
		t.Fatal("image is not registered without the gocv tag")
	}
	_, err := spec.New(&component.Config{}, &component.Resources{})
	if err == nil || !strings.Contains(err.Error(), "-tags gocv") {
		t.Fatalf("err = %v, want one that says how to build with OpenCV", err)
	}
}
