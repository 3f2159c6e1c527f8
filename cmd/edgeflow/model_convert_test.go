package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestModelConvert(t *testing.T) {
	in := "../../.cache/models/npm/mediapipe-face_detection/face_detection_short_range.tflite"
	if _, err := os.Stat(in); err != nil {
		t.Fatalf("%v: run `make deps`, which fetches the MediaPipe models", err)
	}
	out := filepath.Join(t.TempDir(), "face.onnx")
	r := edgeflow(t, nil, "model", "convert", in, out)
	if r.code != 0 {
		t.Fatalf("convert: exit %d, stderr:\n%s", r.code, r.stderr)
	}
	for _, want := range []string{"inputs    input [1 128 128 3]", "regressors [1 896 16]", "CONV_2D 21", "folded    74"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, r.stdout)
		}
	}
	if r := edgeflow(t, nil, "model", "inspect", out); r.code != 0 || !strings.Contains(r.stdout, "Conv") {
		t.Errorf("inspect of the converted model: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}

	// The documented next step: quantise the NHWC conversion, calibrated
	// on images laid out NHWC.
	q := filepath.Join(t.TempDir(), "face.int8.onnx")
	r = edgeflow(t, nil, "model", "quantize", out, q, "--calib", "../../../shared/media", "--preprocess", "blazeface")
	// 33 of the 37 convolutions run in int8; the other four (input or
	// output kept float, so ORT cannot fuse them) keep float weights.
	if r.code != 0 || !strings.Contains(r.stdout, "Conv:33") {
		t.Errorf("quantize the conversion: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}

	bad := filepath.Join(t.TempDir(), "bad.tflite")
	os.WriteFile(bad, []byte("not a flatbuffer at all"), 0o644)
	r = edgeflow(t, nil, "model", "convert", bad, filepath.Join(t.TempDir(), "x.onnx"))
	if r.code != 1 || !strings.Contains(r.stderr, "not a TFLite model") {
		t.Errorf("bad input: exit %d, stderr %s", r.code, r.stderr)
	}
}
