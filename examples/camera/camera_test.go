//go:build gocv

package camera_test

import (
	"cmp"
	"context"
	"fmt"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/edgeflow/edgeflow/vision"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	code := m.Run()
	if int8Dir != "" {
		_ = os.RemoveAll(int8Dir) // the benchmark's quantised models
	}
	if code == 0 {
		if n := liveMats(); n > 0 {
			fmt.Fprintf(os.Stderr, "FAIL: %d OpenCV Mats leaked (matprofile)\n", n)
			code = 1
		}
		if err := goleak.Find(); err != nil {
			fmt.Fprintf(os.Stderr, "FAIL: leaked goroutines: %v\n", err)
			code = 1
		}
	}
	os.Exit(code)
}

// detectorYAML is image -> onnx (YOLOX-Nano) -> detect -> test_collect.
func detectorYAML(source, sink string) string {
	return fmt.Sprintf(`name: test
sources:
  cam:
    type: camera
%s
stages:
  prep:
    type: image
    input: cam
    width: 416
    height: 416
    pad: [114]
    output: images
  infer:
    type: onnx
    input: prep
    model: %s/yolox_nano.onnx
    inputs: {images: images}
    outputs: {output: output}
  detect:
    type: detect
    input: infer
    model: yolox
    threshold: 0.35
sinks:
  out:
    type: test_collect
    input: detect
    name: %s
`, source, models, sink)
}

func TestMessiPeopleAndBall(t *testing.T) {
	need(t, media+"/messi5.jpg")
	b := build(t, detectorYAML(fmt.Sprintf("    id: still\n    file: %s/messi5.jpg\n    keep_latest: false\n    realtime: false", media), "messi"))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := run(t, b, ctx); err != nil {
		t.Fatal(err)
	}
	res := collectorNamed("messi").all()
	if len(res) != 1 {
		t.Fatalf("%d results for one image", len(res))
	}
	var people, balls []vision.Detection
	for _, d := range res[0].dets {
		t.Logf("%s %.2f %+v", d.Class, d.Score, d.Box)
		switch d.Class {
		case "person":
			people = append(people, d)
		case "sports ball":
			balls = append(balls, d)
		}
	}
	if len(people) < 2 {
		t.Errorf("found %d people, want at least 2", len(people))
	}
	if len(balls) != 1 {
		t.Fatalf("found %d sports balls, want 1", len(balls))
	}
	// messi5.jpg is 548×342: Messi kicks across most of the frame, his
	// body spanning about x 66..476, y 62..337, the ball (about 48 px wide)
	// lies at the bottom right near (362, 314). Checked by drawing the boxes.
	ball := balls[0].Box
	cx, cy, bw := (ball.X1+ball.X2)/2, (ball.Y1+ball.Y2)/2, ball.X2-ball.X1
	if cx < 340 || cx > 385 || cy < 295 || cy > 335 || bw < 30 || bw > 70 {
		t.Errorf("ball box %+v is not where the ball is", ball)
	}
	messi := slices.MaxFunc(people, func(a, b vision.Detection) int { return cmp.Compare(a.Box.Area(), b.Box.Area()) })
	if want := (vision.Box{X1: 66, Y1: 62, X2: 476, Y2: 337}); vision.IoU(messi.Box, want) < 0.8 || messi.Score < 0.7 {
		t.Errorf("the player's box %+v (score %.2f) is not on the player %+v", messi.Box, messi.Score, want)
	}
	for _, p := range people {
		if p.Box.X1 < 0 || p.Box.Y1 < 0 || p.Box.X2 > 548 || p.Box.Y2 > 342 {
			t.Errorf("person box %+v is off the image", p.Box)
		}
	}
}
