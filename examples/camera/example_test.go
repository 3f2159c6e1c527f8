//go:build gocv

package camera_test

import (
	"context"
	"testing"

	"github.com/edgeflow/edgeflow/config"
	"github.com/rs/zerolog"
)

// The example builds (dry run: nothing is opened or dialled).
func TestExamplePipelineValidates(t *testing.T) {
	// `edgeflow model pull yolox-nano` puts the file in the cache under the
	// same name the mirror uses.
	t.Setenv("EDGEFLOW_MODEL_CACHE", models)
	t.Setenv("EDGEFLOW_MEDIA", media)
	f, err := config.Load("pipeline.yaml")
	if err != nil {
		t.Fatal(err)
	}
	b, err := f.Build(context.Background(), config.BuildOptions{Logger: zerolog.Nop(), DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"cam", "prep", "infer", "detect", "detections"} {
		if b.Components[name] == nil {
			t.Errorf("component %q not built", name)
		}
	}
	if err := b.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
}
