//go:build !gocv

package camera

import (
	"errors"
	"strings"
	"testing"

	"github.com/edgeflow/edgeflow/component"
	"github.com/edgeflow/edgeflow/pipeline"
)

func TestWithoutOpenCVSaysHowToBuild(t *testing.T) {
	spec, ok := component.Lookup(pipeline.KindSource, "camera")
	if !ok {
		t.Fatal("camera is not registered without the gocv tag")
	}
	_, err := spec.New(&component.Config{}, &component.Resources{})
	if err == nil || !strings.Contains(err.Error(), "-tags gocv") || !strings.Contains(err.Error(), "make build-gocv") {
		t.Fatalf("err = %v, want one that says how to build with OpenCV", err)
	}
	var ce *component.Error
	if !errors.As(err, &ce) {
		t.Fatalf("err is %T, want a positioned *component.Error", err)
	}
}
