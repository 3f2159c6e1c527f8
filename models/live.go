package models

import "sync/atomic"

// liveTensors and liveSessions count the ONNX Runtime tensors and sessions
// this package has created and not yet destroyed, process-wide. They back
// the edgeflow_onnx_tensors_live and edgeflow_onnx_sessions_live gauges: a
// count that keeps rising under a steady load is a leak of native memory
// that Go's heap figures never show. An atomic add per tensor costs nothing
// next to creating one.
var liveTensors, liveSessions atomic.Int64

// LiveTensors returns the number of ONNX Runtime tensors created by
// sessions of this process and not yet destroyed: the reused buffers of
// every open session plus those of runs in progress.
func LiveTensors() int64 { return liveTensors.Load() }

// LiveSessions returns the number of ONNX Runtime sessions open in this
// process.
func LiveSessions() int64 { return liveSessions.Load() }

// destroyTensor destroys an ONNX Runtime value and counts it gone.
func destroyTensor(v interface{ Destroy() error }) {
	v.Destroy()
	liveTensors.Add(-1)
}
