//go:build gocv

package camera_test

import (
	"context"
	"fmt"
	"image/jpeg"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/edgeflow/edgeflow/sinks/annotate"
	"github.com/edgeflow/edgeflow/vision"
	"gocv.io/x/gocv"
)

// annotateYAML is detectorYAML with an annotate sink next to the collector.
func annotateYAML(source, name, annotateConf string) string {
	return detectorYAML(source, name) + "  annotated:\n    type: annotate\n    input: detect\n" + annotateConf
}

// messi5.jpg through YOLOX-Nano, drawn in magenta, 4 px lines: the JPEG on
// disk decodes, has the source's size, and is magenta on the player's and
// the ball's box edges but not inside the boxes.
func TestAnnotatedJPEGHasTheBoxes(t *testing.T) {
	need(t, media+"/messi5.jpg")
	dir := t.TempDir()
	b := build(t, annotateYAML(fmt.Sprintf("    id: still\n    file: %s/messi5.jpg\n    keep_latest: false\n    realtime: false", media),
		"annot", fmt.Sprintf("    dir: %s\n    color: [255, 0, 255]\n    thickness: 4\n    quality: 95\n", dir)))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := run(t, b, ctx); err != nil {
		t.Fatal(err)
	}
	res := collectorNamed("annot").all()
	if len(res) != 1 {
		t.Fatalf("%d results", len(res))
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*.jpg"))
	if len(files) != 1 || filepath.Base(files[0]) != "still-000000000.jpg" {
		t.Fatalf("files %v, want still-000000000.jpg", files)
	}
	img := gocv.IMRead(files[0], gocv.IMReadColor)
	defer img.Close()
	if img.Empty() || img.Cols() != 548 || img.Rows() != 342 {
		t.Fatalf("decoded %dx%d (empty %v), want 548x342", img.Cols(), img.Rows(), img.Empty())
	}
	var player, ball vision.Detection
	for _, d := range res[0].dets {
		if d.Class == "sports ball" {
			ball = d
		}
		if d.Class == "person" && d.Box.Area() > player.Box.Area() {
			player = d
		}
	}
	if ball.Class == "" || player.Class == "" {
		t.Fatalf("detections %+v lack the player or the ball", res[0].dets)
	}
	magenta := func(x, y int) bool {
		v := img.GetVecbAt(y, x) // B, G, R
		return v[0] > 180 && v[1] < 90 && v[2] > 180
	}
	for _, d := range []vision.Detection{player, ball} {
		x1, y1 := int(d.Box.X1+0.5), int(d.Box.Y1+0.5)
		x2, y2 := min(int(d.Box.X2+0.5), 547), min(int(d.Box.Y2+0.5), 341)
		mx, my := (x1+x2)/2, (y1+y2)/2
		qx := x1 + 3*(x2-x1)/4 // right of the label
		for _, p := range [][2]int{{x1, my}, {x2, my}, {qx, y1}, {mx, y2}} {
			if !magenta(p[0], p[1]) {
				t.Errorf("%s box %+v: pixel %v is %v, want the box colour", d.Class, d.Box, p, img.GetVecbAt(p[1], p[0]))
			}
		}
		if magenta(mx, my) {
			t.Errorf("%s box: the centre (%d,%d) is magenta too", d.Class, mx, my)
		}
	}
}

// vtest.avi looping into an annotate sink with an MJPEG server on a free
// loopback port: an HTTP client reads parts that are JPEG frames of the
// video's size; stopping the pipeline ends the stream and the server.
func TestMJPEGStreamServesParts(t *testing.T) {
	need(t, media+"/vtest.avi")
	b := build(t, annotateYAML(fmt.Sprintf("    id: street\n    file: %s/vtest.avi\n    loop: true", media),
		"mjpeg", "    listen: 127.0.0.1:0\n"))
	sink := b.Components["annotated"].(*annotate.Sink)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	runErr := make(chan error, 1)
	go func() { runErr <- run(t, b, ctx) }()

	var addr string
	for deadline := time.Now().Add(time.Minute); addr == "" && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		addr = sink.Addr()
	}
	if addr == "" {
		cancel()
		<-runErr
		t.Fatal("the MJPEG server did not start")
	}
	// The dashboard embeds the stream from the sink's preview URL.
	if want := "http://" + addr + "/stream.mjpg"; sink.PreviewURL() != want {
		t.Errorf("PreviewURL = %q, want %q", sink.PreviewURL(), want)
	}
	resp, err := http.Get(sink.PreviewURL())
	if err != nil {
		cancel()
		<-runErr
		t.Fatal(err)
	}
	defer resp.Body.Close()
	mt, params, err := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/x-mixed-replace" {
		t.Fatalf("Content-Type %q (%v)", resp.Header.Get("Content-Type"), err)
	}
	mr := multipart.NewReader(resp.Body, params["boundary"])
	for i := range 3 {
		part, err := mr.NextPart()
		if err != nil {
			t.Fatalf("part %d: %v", i, err)
		}
		if ct := part.Header.Get("Content-Type"); ct != "image/jpeg" {
			t.Errorf("part %d is %q", i, ct)
		}
		img, err := jpeg.Decode(part)
		if err != nil {
			t.Fatalf("part %d does not decode: %v", i, err)
		}
		if sz := img.Bounds().Size(); sz.X != 768 || sz.Y != 576 {
			t.Errorf("part %d is %v, want 768x576", i, sz)
		}
	}
	snap, err := http.Get("http://" + addr + "/snapshot.jpg")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := jpeg.Decode(snap.Body); err != nil || snap.StatusCode != 200 {
		t.Errorf("snapshot: status %d, %v", snap.StatusCode, err)
	}
	snap.Body.Close()

	// Stop with the client still connected: the stream must end.
	cancel()
	if err := <-runErr; err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { _, err := io.Copy(io.Discard, resp.Body); done <- err }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("the stream did not end when the pipeline stopped")
	}
	if _, err := http.Get("http://" + addr + "/"); err == nil {
		t.Error("the server still answers after the pipeline stopped")
	}
}
