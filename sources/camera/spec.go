// Package camera is the `camera` source: frames from a V4L2 device, a video
// file or an RTSP/HTTP stream, captured with OpenCV (GoCV), newest frame
// first.
//
// The capture code needs OpenCV and builds only with the gocv tag
// (make build-gocv, or go build -tags gocv). Without it the source is still
// registered, so that docs and validation know it, but configuring it fails
// with an error that says how to build it.
package camera

import (
	"errors"

	"github.com/edgeflow/edgeflow/component"
	"github.com/edgeflow/edgeflow/component/schema"
	"github.com/edgeflow/edgeflow/pipeline"
)

// ErrNotBuilt is returned when a pipeline uses `camera` in a binary built
// without OpenCV.
var ErrNotBuilt = errors.New("the camera source needs OpenCV: this edgeflow was built without it; " +
	"rebuild with `make build-gocv` (or `go build -tags gocv ./cmd/edgeflow`) after `bash scripts/setup/opencv.sh`")

// build is the constructor; the gocv build replaces it.
var build = func(conf *component.Config, _ *component.Resources) (any, error) {
	return nil, conf.Errorf("", "%v", ErrNotBuilt)
}

func init() {
	component.Register(component.Spec{
		Kind:    pipeline.KindSource,
		Name:    "camera",
		Summary: "Video frames from a camera device, a video file or an RTSP/HTTP stream (OpenCV; build tag gocv).",
		Description: `Captures frames with OpenCV and emits one message per frame: ` + "`key`" + ` and
` + "`fields.camera`" + ` are the camera id, ` + "`fields.frame`" + ` the image (a pooled OpenCV Mat with its
id and size; it encodes to JSON as {camera, id, time, width, height}), ` + "`fields.frame_id`" + `
the frame counter, and the source time is the capture time. Meta ` + "`camera`" + ` carries the id too.

**Newest frame first.** A grabber goroutine reads the capture continuously and keeps only
the newest frame; the source emits it when fewer than ` + "`max_in_flight`" + ` of its frames are
still in the pipeline (a flow limiter, as MediaPipe's). When the detector is slower than
the camera, old frames are dropped at the source and counted as skipped, never queued,
so capture-to-result latency stays near two detector times. ` + "`keep_latest: false`" + `
turns this off: every frame is emitted (a file is then read at the pipeline's pace).

**Frame lifetime.** A frame is released when its message is settled, that is when every
branch and every derived message is done with it; its Mat then goes back to a pool.
Consumers must not draw on it in place.

**Failures.** A device, file or stream that cannot be opened, or a stream that drops, is
logged, counted and retried with exponential backoff (` + "`reconnect`" + `); the source gives up
only after ` + "`reconnect.max_attempts`" + ` failures in a row (0: never). A file that ends
early (truncated or corrupt) is logged with the frame it stopped at.

Needs OpenCV: build with ` + "`-tags gocv`" + ` (` + "`make build-gocv`" + `).`,
		Fields: []component.Field{
			{Name: "id", Type: component.String, Optional: true, Example: "gate-2",
				Description: "Camera id for keys, metadata and topics (default: the node name)."},
			{Name: "device", Type: component.Int, Optional: true, Min: component.Bound(0), Example: "0",
				Description: "V4L2 device index (/dev/video<N>). Give exactly one of device, file and url."},
			{Name: "file", Type: component.String, Optional: true, Example: "media/vtest.avi",
				Description: "Video file, relative to the pipeline file."},
			{Name: "url", Type: component.String, Optional: true, Example: "rtsp://10.0.0.7:554/stream1",
				Description: "RTSP or HTTP stream URL (OpenCV's FFmpeg backend)."},
			{Name: "loop", Type: component.Bool, Default: false,
				Description: "Start a file over when it ends (otherwise the source ends with the file)."},
			{Name: "fps", Type: component.Float, Default: 0.0, Min: component.Bound(0),
				Description: "Most frames per second to capture. 0: a file plays at its own frame rate, a device or stream as fast as it delivers."},
			{Name: "realtime", Type: component.Bool, Default: true,
				Description: "Play files at their frame rate (or fps). false reads them as fast as possible."},
			{Name: "keep_latest", Type: component.Bool, Default: true,
				Description: "Drop frames at the source when the pipeline is busy, keeping only the newest. false emits every frame, waiting for the pipeline."},
			{Name: "max_in_flight", Type: component.Int, Default: 1, Min: component.Bound(1), Max: component.Bound(64),
				Description: "How many of this camera's frames may be in the pipeline at once. 1 gives the lowest latency; 2 overlaps preprocessing with inference."},
			{Name: "width", Type: component.Int, Optional: true, Min: component.Bound(1),
				Description: "Capture width to ask a device for."},
			{Name: "height", Type: component.Int, Optional: true, Min: component.Bound(1),
				Description: "Capture height to ask a device for."},
			{Name: "stats_interval", Type: component.Duration, Default: "30s",
				Description: "How often to log capture counters (captured, emitted, skipped fps); 0 only at the end."},
			{Name: "reconnect", Type: component.Object, Optional: true,
				Description: "Retrying a capture that cannot be opened or drops.",
				Fields: []component.Field{
					{Name: "min_backoff", Type: component.Duration, Default: "500ms", Description: "First pause before retrying."},
					{Name: "max_backoff", Type: component.Duration, Default: "10s", Description: "The pause doubles up to this."},
					{Name: "max_attempts", Type: component.Int, Default: 0, Min: component.Bound(0),
						Description: "Give up (the source fails) after this many failures in a row; 0 retries forever."},
				}},
		},
		Example: `sources:
  cam:
    type: camera
    id: gate-2
    file: ${EDGEFLOW_MEDIA:-media}/vtest.avi   # or: device: 0, or: url: rtsp://10.0.0.7/stream1
    loop: true
    max_in_flight: 1`,
		New: func(conf *component.Config, res *component.Resources) (any, error) { return build(conf, res) },
		Schema: func(*component.Config, schema.Schema, *component.Resources) (schema.Schema, error) {
			return schema.Schema{Closed: true, From: "from the camera source", Fields: map[string]schema.Type{
				"frame": schema.Any, "camera": schema.String, "frame_id": schema.Any}}, nil // frame_id: a uint64
		},
	})
}
