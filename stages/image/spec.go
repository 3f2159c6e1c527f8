// Package image is the `image` stage: it turns a camera frame (or an encoded
// image payload) into the float32 tensor a vision model takes, with OpenCV's
// own routines: resize or letterbox, colour order, normalisation, NCHW or
// NHWC layout. It records the letterbox so that boxes can be mapped back.
//
// The OpenCV code builds only with the gocv tag; without it, configuring
// the stage fails with an error that says how to build it.
package image

import (
	"errors"

	"github.com/edgeflow/edgeflow/component"
	"github.com/edgeflow/edgeflow/pipeline"
)

// ErrNotBuilt is returned when a pipeline uses `image` in a binary built
// without OpenCV.
var ErrNotBuilt = errors.New("the image stage needs OpenCV: this edgeflow was built without it; " +
	"rebuild with `make build-gocv` (or `go build -tags gocv ./cmd/edgeflow`) after `bash scripts/setup/opencv.sh`")

var build = func(conf *component.Config, _ *component.Resources) (any, error) {
	return nil, conf.Errorf("", "%v", ErrNotBuilt)
}

func init() {
	component.Register(component.Spec{
		Kind:    pipeline.KindStage,
		Name:    "image",
		Summary: "Resize or letterbox a frame and normalise it into a model's float32 input tensor (OpenCV; build tag gocv).",
		Description: `Reads the frame in ` + "`frame_field`" + ` (from the camera source) or, when the message
has none, decodes its payload as an image (JPEG, PNG, BMP or PBM/PGM/PPM of at most 2^25 pixels,
8K UHD; other formats and larger images are errors, so the message is dead-lettered). Fits it to ` + "`width`" + `×` + "`height`" + `:
` + "`letterbox`" + ` keeps the aspect ratio and pads with ` + "`pad`" + ` (at the bottom/right, or centred),
` + "`stretch`" + ` resizes plainly. Then converts to the model's colour order, normalises every
channel as ` + "`(x - mean) / std`" + ` (x in 0..255), and writes a ` + "`[]float32`" + ` in ` + "`output`" + ` with its
shape in ` + "`<output>_shape`" + ` ([1,3,H,W] for nchw, [1,H,W,3] for nhwc), ready for the ` + "`onnx`" + `
stage. ` + "`letterbox_field`" + ` gets the mapping (source size, scales, padding) that the ` + "`detect`" + `
stage uses to put boxes back on the source pixels.

All pixel work is OpenCV's (Resize, CopyMakeBorder, dnn.BlobFromImage), not Go loops.
Needs OpenCV: build with ` + "`-tags gocv`" + ` (` + "`make build-gocv`" + `).

Presets: YOLOX letterbox top-left, pad 114, BGR, mean 0, std 1; NanoDet letterbox centred,
pad 0, BGR, mean [103.53,116.28,123.675], std [57.375,57.12,58.395]; UltraFace stretch,
RGB, mean 127, std 128.`,
		Fields: []component.Field{
			{Name: "width", Type: component.Int, Min: component.Bound(1), Max: component.Bound(8192), Example: "416",
				Description: "Model input width."},
			{Name: "height", Type: component.Int, Min: component.Bound(1), Max: component.Bound(8192), Example: "416",
				Description: "Model input height."},
			{Name: "resize", Type: component.String, Default: "letterbox", Enum: []string{"letterbox", "stretch"},
				Description: "letterbox keeps the aspect ratio and pads; stretch resizes to the exact size."},
			{Name: "align", Type: component.String, Default: "top_left", Enum: []string{"top_left", "center"},
				Description: "Where a letterboxed image sits: top_left pads bottom and right (YOLOX), center pads both sides (NanoDet)."},
			{Name: "pad", Type: component.FloatList, Default: []float64{114, 114, 114},
				Description: "Padding colour, B,G,R in 0..255 (one value for grey)."},
			{Name: "color", Type: component.String, Default: "bgr", Enum: []string{"bgr", "rgb"},
				Description: "Channel order the model wants (frames are BGR)."},
			{Name: "layout", Type: component.String, Default: "nchw", Enum: []string{"nchw", "nhwc"},
				Description: "Tensor layout."},
			{Name: "mean", Type: component.FloatList, Default: []float64{0},
				Description: "Per-channel mean in the model's channel order, 0..255 units (one value for all)."},
			{Name: "std", Type: component.FloatList, Default: []float64{1},
				Description: "Per-channel standard deviation, same order and units (one value for all)."},
			{Name: "frame_field", Type: component.String, Default: "frame",
				Description: "Field holding the camera frame."},
			{Name: "output", Type: component.String, Default: "tensor",
				Description: "Field that receives the tensor; its shape goes to `<output>_shape`."},
			{Name: "shape_suffix", Type: component.String, Default: "_shape",
				Description: "Suffix of the shape field."},
			{Name: "letterbox_field", Type: component.String, Default: "letterbox",
				Description: "Field that receives the mapping back to source pixels."},
		},
		Example: `stages:
  prep:
    type: image
    input: cam
    width: 416
    height: 416
    resize: letterbox
    pad: [114]`,
		New: func(conf *component.Config, res *component.Resources) (any, error) { return build(conf, res) },
	})
}
