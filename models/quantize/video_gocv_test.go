//go:build gocv

package quantize_test

import (
	"testing"

	"github.com/edgeflow/edgeflow/models/modeltest"
)

// TestDetectorsInt8Video judges the int8 detectors (calibrated, as in
// TestDetectorsInt8, on crops of the three mirror images only) on 19
// frames of vtest.avi, pedestrians and cars, 4 s apart: a test set of
// about 200 fp32 detections that calibration never saw. UltraFace finds no
// faces there and is judged on the images only.
func TestDetectorsInt8Video(t *testing.T) {
	modeltest.RequireRuntime(t)
	dir, media := sharedMedia(t)
	var r ran
	for _, tc := range detectorCases[:2] {
		r.run(t, tc.detector, func(t *testing.T) {
			src, out := quantizeDetector(t, dir, media, tc, images(t, media, tc, calibViews))
			agreement(t, src, out, tc.detector, "vtest.avi frames", videoFrames(t, media, tc.detector, 25, 40, 19), agreementFloor)
		})
	}
	r.check(t)
}
