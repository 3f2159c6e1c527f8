//go:build gocv

package quantize_test

import (
	"testing"

	"github.com/edgeflow/edgeflow/models/modeltest"
)

// TestDetectorsInt8Video judges the int8 detectors (calibrated, as in
// TestDetectorsInt8, on crops of the three mirror images only) on 19
// frames of vtest.avi, pedestrians and cars, 4 s apart: a test set of
// about 200 fp32 detections that calibration never saw. Measured: YOLOX-Nano
// 98.9% agreement (186 fp32 detections), NanoDet-m 94.1% (241).
func TestDetectorsInt8Video(t *testing.T) {
	modeltest.RequireRuntime(t)
	dir, media := sharedMedia(t)
	floors := map[string]float64{"yolox": 0.96, "nanodet": 0.92}
	for _, tc := range detectorCases {
		t.Run(tc.detector, func(t *testing.T) {
			src, out := quantizeDetector(t, dir, media, tc, images(t, media, tc.detector, calibViews))
			agreement(t, src, out, tc.detector, "vtest.avi frames", videoFrames(t, media, tc.detector, 25, 40, 19), floors[tc.detector])
		})
	}
}
