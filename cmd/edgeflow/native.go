package main

import (
	"github.com/edgeflow/edgeflow/models"
	"github.com/prometheus/client_golang/prometheus"
)

// nativeCollectors report memory that Go's heap figures do not see: ONNX
// Runtime tensors and sessions, and OpenCV Mats. The counts are
// process-wide, so they are served once by the admin server, not per
// pipeline or stage (a second pipeline in the process would collide).
// make soak judges them flat under a steady load.
func nativeCollectors() []prometheus.Collector {
	cs := []prometheus.Collector{
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "edgeflow_onnx_tensors_live",
			Help: "ONNX Runtime tensors created and not yet destroyed: the reused buffers of open sessions plus those of runs in progress.",
		}, func() float64 { return float64(models.LiveTensors()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "edgeflow_onnx_sessions_live",
			Help: "ONNX Runtime sessions open (one per loaded model version).",
		}, func() float64 { return float64(models.LiveSessions()) }),
	}
	if mats, ok := liveMats(); ok {
		cs = append(cs, prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "edgeflow_opencv_mats_live",
			Help: "OpenCV Mats created and not yet closed (gocv's Mat profile; 0 in a build without OpenCV).",
		}, func() float64 { return float64(mats()) }))
	}
	return cs
}
