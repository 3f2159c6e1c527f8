//go:build gocv

package camera

import (
	"strings"
	"testing"
)

// An IP camera's URL carries its credentials; logs and errors name the
// stream by c.source(), which must not show the password.
func TestSourceHidesCredentials(t *testing.T) {
	c := &config{device: -1, url: "rtsp://admin:hunter2@10.0.0.7:554/stream1"}
	got := c.source()
	if strings.Contains(got, "hunter2") || !strings.Contains(got, "rtsp://admin:xxxxx@10.0.0.7:554/stream1") {
		t.Fatalf("source() = %q", got)
	}
}
