// Package annotate is the `annotate` sink: it draws a frame's detections
// (box, class name, score) on a copy of the camera frame with OpenCV and
// writes the result as JPEG files and/or serves it as an MJPEG HTTP stream.
//
// The drawing code needs OpenCV and builds only with the gocv tag. Without
// it the sink is still registered, so that docs and validation know it, but
// configuring it fails with an error that says how to build it.
package annotate

import (
	"errors"
	"fmt"
	"net"

	"github.com/edgeflow/edgeflow/component"
	"github.com/edgeflow/edgeflow/pipeline"
)

// ErrNotBuilt is returned when a pipeline uses `annotate` in a binary built
// without OpenCV.
var ErrNotBuilt = errors.New("the annotate sink needs OpenCV: this edgeflow was built without it; " +
	"rebuild with `make build-gocv` (or `go build -tags gocv ./cmd/edgeflow`) after `bash scripts/setup/opencv.sh`")

// build is the constructor; the gocv build replaces it.
var build = func(conf *component.Config, _ *component.Resources) (any, error) {
	return nil, conf.Errorf("", "%v", ErrNotBuilt)
}

func init() {
	component.Register(component.Spec{
		Kind:    pipeline.KindSink,
		Name:    "annotate",
		Summary: "Draw detections on camera frames; write JPEG files and/or serve an MJPEG stream (OpenCV; build tag gocv).",
		Description: `Takes messages from the ` + "`detect`" + ` stage that still carry the frame (` + "`keep`" + ` must
list ` + "`frame`" + `, as it does by default), draws each detection's box with its class name and
score on a copy of the frame, and encodes it as JPEG:

- with ` + "`dir`" + `, every ` + "`every`" + `-th frame of each camera is written to
  ` + "`<dir>/<camera>-<frame id>.jpg`" + ` (atomically: a temporary file renamed), and only the
  newest ` + "`keep`" + ` files this sink wrote are kept;
- with ` + "`listen`" + `, an HTTP server streams the newest annotated frame as MJPEG
  (` + "`multipart/x-mixed-replace`" + `) at ` + "`/`" + ` (or ` + "`/stream.mjpg`" + `), and
  ` + "`/snapshot.jpg`" + ` serves the newest frame once. The address must be a loopback one unless
  ` + "`allow_remote`" + ` is set. The server starts with the first frame and shuts down, closing
  open streams, when the pipeline stops.

**Never slows the detector.** Write hands the frame (it takes a reference of its own, so
the Mat outlives the message) to one drawing goroutine through a one-frame mailbox and
returns at once; a frame still waiting when a newer one arrives is dropped and counted
(` + "`edgeflow_annotate_frames_total{result=\"dropped\"}`" + `). When no file is due and no stream
client is connected nothing is drawn at all. Failures to write files are logged and counted,
never returned: annotated output is a preview, not the delivery the source waits for.`,
		Fields: []component.Field{
			{Name: "dir", Type: component.String, Optional: true, Example: "annotated",
				Description: "Directory for JPEG files (relative to the pipeline file; created on the first write)."},
			{Name: "every", Type: component.Int, Default: 1, Min: component.Bound(1),
				Description: "Write every N-th frame of a camera to dir."},
			{Name: "keep", Type: component.Int, Default: 100, Min: component.Bound(0),
				Description: "Most JPEG files to keep in dir (oldest removed first); 0 keeps all."},
			{Name: "listen", Type: component.String, Optional: true, Example: "127.0.0.1:8090",
				Description: "host:port of the MJPEG HTTP server (port 0 picks a free one; the log says which)."},
			{Name: "allow_remote", Type: component.Bool, Default: false,
				Description: "Allow listen on a non-loopback address (the stream has no authentication)."},
			{Name: "quality", Type: component.Int, Default: 80, Min: component.Bound(1), Max: component.Bound(100),
				Description: "JPEG quality."},
			{Name: "color", Type: component.FloatList, Optional: true, Example: "[255, 0, 0]",
				Description: "Box colour R,G,B (0..255) for every class; by default each class gets its own colour."},
			{Name: "thickness", Type: component.Int, Default: 2, Min: component.Bound(1), Max: component.Bound(20),
				Description: "Box line thickness in pixels."},
			{Name: "font_scale", Type: component.Float, Default: 0.5, Min: component.Bound(0.1), Max: component.Bound(5),
				Description: "Label size (OpenCV Hershey simplex scale)."},
			{Name: "frame_field", Type: component.String, Default: "frame",
				Description: "Field holding the camera frame."},
			{Name: "detections_field", Type: component.String, Default: "detections",
				Description: "Field holding the detections."},
		},
		Example: `sinks:
  preview:
    type: annotate
    input: detect
    dir: annotated
    every: 10
    keep: 50
    listen: 127.0.0.1:8090`,
		New: func(conf *component.Config, res *component.Resources) (any, error) { return build(conf, res) },
	})
}

// checkListen accepts host:port with a loopback host, unless remote is
// allowed. "localhost" counts as loopback.
func checkListen(addr string, remote bool) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("want host:port: %w", err)
	}
	if remote {
		return nil
	}
	if host == "localhost" {
		return nil
	}
	ip := net.ParseIP(host)
	if ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("%q is not a loopback address; the stream is unauthenticated, so set allow_remote: true to serve it beyond this machine", host)
	}
	return nil
}
