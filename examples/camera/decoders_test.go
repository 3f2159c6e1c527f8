//go:build gocv

package camera_test

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/edgeflow/edgeflow/vision"
)

// detectStill runs camera (one still image) -> stages -> test_collect and
// returns the detections of that one frame.
func detectStill(t *testing.T, name, image, stages string) []vision.Detection {
	t.Helper()
	need(t, image)
	b := build(t, fmt.Sprintf(`name: %s
sources:
  cam:
    type: camera
    id: still
    file: %s
    keep_latest: false
    realtime: false
stages:
%s
sinks:
  out:
    type: test_collect
    input: detect
    name: %s
`, name, image, stages, name))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := run(t, b, ctx); err != nil {
		t.Fatal(err)
	}
	res := collectorNamed(name).all()
	if len(res) != 1 {
		t.Fatalf("%d results for one image", len(res))
	}
	for _, d := range res[0].dets {
		t.Logf("%s %.2f %+v", d.Class, d.Score, d.Box)
	}
	return res[0].dets
}

func nanodetStages(model string, offset float64) string {
	return fmt.Sprintf(`  prep:
    type: image
    input: cam
    width: 416
    height: 416
    align: center
    pad: [0]
    mean: [103.53, 116.28, 123.675]
    std: [57.375, 57.12, 58.395]
    output: input
  infer:
    type: onnx
    input: prep
    model: %s
    inputs: {input.1: input}
    outputs: {"792": cls8, "814": cls16, "836": cls32, "795": reg8, "817": reg16, "839": reg32}
  detect:
    type: detect
    input: infer
    model: nanodet
    outputs: [cls8, reg8, cls16, reg16, cls32, reg32]
    center_offset: %g
    threshold: 0.4
`, model, offset)
}

// Ground truth on messi5.jpg (548×342), read off the image with a pixel
// grid: the player spans x 70..456, y 61..335 (left hand to right boot,
// hair to boot); the ball x 338..387, y 290..336; his face x 228..257,
// y 94..130.
var (
	messiPlayer = vision.Box{X1: 70, Y1: 61, X2: 456, Y2: 335}
	messiBall   = vision.Box{X1: 338, Y1: 290, X2: 387, Y2: 336}
	messiFace   = vision.Box{X1: 228, Y1: 94, X2: 257, Y2: 130}
)

// only returns the detections of one class.
func only(dets []vision.Detection, class string) []vision.Detection {
	var out []vision.Detection
	for _, d := range dets {
		if d.Class == class {
			out = append(out, d)
		}
	}
	return out
}

// NanoDet (opencv_zoo's export, 3 levels, reg_max 7) on real model outputs:
// with center_offset 0.5 (the default: a cell's centre is the middle of the
// cell, as NanoDet's GFL head computes its points) the player and the ball
// are where they are. With 0 every box moves half a stride up and left: for
// the player, decoded at stride 32, that is 21 source pixels.
func TestNanoDetMessiRealOutputs(t *testing.T) {
	for _, tc := range []struct {
		model       string
		offset      float64
		minIoU      float64
		wantOnSpots bool
	}{
		{"nanodet_m_416.onnx", 0.5, 0.85, true},
		{"nanodet_m_416_int8.onnx", 0.5, 0.8, true},
		{"nanodet_m_416.onnx", 0, 0, false},
	} {
		t.Run(fmt.Sprintf("%s/offset%g", tc.model, tc.offset), func(t *testing.T) {
			dets := detectStill(t, fmt.Sprintf("nd-%s-%g", tc.model, tc.offset), media+"/messi5.jpg",
				nanodetStages(models+"/"+tc.model, tc.offset))
			people, balls := only(dets, "person"), only(dets, "sports ball")
			if len(people) == 0 || len(balls) != 1 {
				t.Fatalf("found %d people and %d balls, want the player and the ball", len(people), len(balls))
			}
			player := slices.MaxFunc(people, func(a, b vision.Detection) int { return cmp.Compare(a.Box.Area(), b.Box.Area()) })
			pIoU, bIoU := vision.IoU(player.Box, messiPlayer), vision.IoU(balls[0].Box, messiBall)
			t.Logf("player IoU %.3f, ball IoU %.3f", pIoU, bIoU)
			if !tc.wantOnSpots {
				if pIoU > 0.8 {
					t.Errorf("with center_offset 0 the player box should be off by half a stride (IoU %.3f)", pIoU)
				}
				return
			}
			if float64(pIoU) < tc.minIoU || player.Score < 0.6 {
				t.Errorf("player %+v (score %.2f): IoU %.3f with %+v, want >= %.2f", player.Box, player.Score, pIoU, messiPlayer, tc.minIoU)
			}
			if float64(bIoU) < tc.minIoU {
				t.Errorf("ball %+v: IoU %.3f with %+v, want >= %.2f", balls[0].Box, bIoU, messiBall, tc.minIoU)
			}
		})
	}
}

func ultrafaceStages(threshold float64) string {
	return fmt.Sprintf(`  prep:
    type: image
    input: cam
    width: 320
    height: 240
    resize: stretch
    color: rgb
    mean: [127]
    std: [128]
    output: input
  infer:
    type: onnx
    input: prep
    model: %s/ultraface_rfb_320.onnx
    inputs: {input: input}
    outputs: {scores: scores, boxes: boxes}
  detect:
    type: detect
    input: infer
    model: ultraface
    outputs: [scores, boxes]
    threshold: %g
    iou: 0.3
`, models, threshold)
}

// UltraFace RFB-320 on real model outputs: Messi's face on messi5.jpg, both
// players' faces on basketball1.png (one frontal, one in profile), and no
// face among the fruit.
func TestUltraFaceRealOutputs(t *testing.T) {
	for _, tc := range []struct {
		image string
		want  []vision.Box
	}{
		{"messi5.jpg", []vision.Box{messiFace}},
		// basketball1.png (640×480): read off the image as above.
		{"basketball1.png", []vision.Box{{X1: 70, Y1: 90, X2: 105, Y2: 135}, {X1: 510, Y1: 55, X2: 550, Y2: 115}}},
		{"fruits.jpg", nil},
	} {
		t.Run(tc.image, func(t *testing.T) {
			dets := detectStill(t, "uf-"+tc.image, media+"/"+tc.image, ultrafaceStages(0.6))
			if len(dets) != len(tc.want) {
				t.Fatalf("found %d faces, want %d", len(dets), len(tc.want))
			}
			for _, w := range tc.want {
				best := float32(0)
				for _, d := range dets {
					if d.Class != "face" {
						t.Errorf("class %q, want face", d.Class)
					}
					best = max(best, vision.IoU(d.Box, w))
				}
				if best < 0.6 {
					t.Errorf("no face box on %+v (best IoU %.2f)", w, best)
				}
			}
		})
	}
}
