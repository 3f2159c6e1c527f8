//go:build gocv

package camera_test

import (
	"testing"

	"github.com/edgeflow/edgeflow/config"
	"github.com/edgeflow/edgeflow/sources/camera"
	"github.com/prometheus/client_golang/prometheus"
)

// checkCameraMetrics registers what `edgeflow run` registers (the built
// pipeline's collectors) and checks that the camera's counters are there,
// equal to its Stats.
func checkCameraMetrics(t *testing.T, b *config.Built, cam *camera.Camera) {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	for _, c := range b.Collectors() {
		if err := reg.Register(c); err != nil {
			t.Fatalf("register: %v", err)
		}
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			key := mf.GetName()
			for _, l := range m.GetLabel() {
				if l.GetName() == "result" {
					key += "/" + l.GetValue()
				}
			}
			if m.GetCounter() != nil {
				got[key] = m.GetCounter().GetValue()
			}
		}
	}
	st := cam.Stats()
	for key, want := range map[string]uint64{
		"edgeflow_camera_frames_total/captured": st.Captured.Load(),
		"edgeflow_camera_frames_total/emitted":  st.Emitted.Load(),
		"edgeflow_camera_frames_total/skipped":  st.Skipped.Load(),
		"edgeflow_camera_frames_total/capped":   st.Capped.Load(),
		"edgeflow_camera_open_failures_total":   st.OpenFailures.Load(),
		"edgeflow_camera_reconnects_total":      st.Reconnects.Load(),
	} {
		v, ok := got[key]
		if !ok {
			t.Errorf("metric %s not exported", key)
			continue
		}
		if v != float64(want) {
			t.Errorf("%s = %v, Stats say %d", key, v, want)
		}
	}
}
