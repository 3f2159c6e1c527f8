package tflite

import (
	"crypto/sha256"
	"encoding/hex"
	"image"
	"math"
	"os"
	"testing"

	"github.com/edgeflow/edgeflow/models"
	"github.com/edgeflow/edgeflow/models/registry"
	"github.com/edgeflow/edgeflow/vision"
)

// faceCase is a real image, or a crop of one: the short-range model is made
// for faces that fill much of the frame (selfie distance), so the faces of
// the shared media are also given cropped around the people.
type faceCase struct {
	image string
	rect  image.Rectangle // empty: the whole image
	faces bool            // a face is visible and large enough for the short-range model
}

var faceCases = []faceCase{
	{image: "messi5.jpg"},
	{image: "messi5.jpg", rect: image.Rect(170, 40, 310, 180), faces: true},
	{image: "messi5.jpg", rect: image.Rect(200, 70, 280, 150), faces: true},
	{image: "basketball1.png"},
	{image: "basketball1.png", rect: image.Rect(0, 40, 200, 240), faces: true},
	{image: "basketball1.png", rect: image.Rect(20, 60, 150, 190), faces: true},
	{image: "fruits.jpg"},
}

func (c faceCase) String() string {
	if c.rect.Empty() {
		return c.image
	}
	return c.image + c.rect.String()
}

func (c faceCase) load(t testing.TB) image.Image {
	img := loadImage(t, c.image)
	if c.rect.Empty() {
		return img
	}
	return img.(interface {
		SubImage(image.Rectangle) image.Image
	}).SubImage(c.rect)
}

// MediaPipe's face detection graphs: score threshold 0.5, weighted NMS at
// IoU 0.3.
func blazePost() vision.Postprocess {
	return vision.Postprocess{Decoder: vision.BlazeFace{}, Threshold: 0.5, IoU: 0.3, Labels: []string{"face"}}
}

func maxAbsDiff(a, b []float32) float64 {
	var d float64
	for i := range a {
		d = max(d, math.Abs(float64(a[i]-b[i])))
	}
	return d
}

// The converted face_detection_short_range.tflite and the independent ONNX
// conversion of BlazeFace front (face_detection_front_128x128_barracuda)
// are the same network: same outputs, same detections. The reference
// splits its outputs by stride (512 + 384 anchors); the TFLite model
// concatenates them.
func TestShortRangeMatchesReference(t *testing.T) {
	conv := session(t, convertTo(t, shortPath))
	ref := session(t, need(t, refPath))
	post := blazePost()
	found := 0
	for _, c := range faceCases {
		in, lb := blazeInput(t, c.load(t), 128)
		got, err := conv.Run([]models.Tensor{in})
		if err != nil {
			t.Fatal(err)
		}
		want, err := ref.Run([]models.Tensor{in})
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 2 || got[0].Shape[1] != 896 || got[0].Shape[2] != 16 || got[1].Shape[2] != 1 {
			t.Fatalf("%s: converted outputs %v %v, want regressors [1,896,16] and classificators [1,896,1]", c, got[0].Shape, got[1].Shape)
		}
		scores := append(append([]float32{}, want[0].Data...), want[1].Data...)
		boxes := append(append([]float32{}, want[2].Data...), want[3].Data...)
		ds, db := maxAbsDiff(got[1].Data, scores), maxAbsDiff(got[0].Data, boxes)
		t.Logf("%s: max |converted - reference|: scores %.2g, regressors %.2g", c, ds, db)
		if ds > 1e-4 || db > 1e-3 {
			t.Errorf("%s: outputs differ: scores by %g, regressors by %g", c, ds, db)
		}

		dg, err := post.Run(toVision(got), lb)
		if err != nil {
			t.Fatal(err)
		}
		dw, err := post.Run(toVision(want), lb)
		if err != nil {
			t.Fatal(err)
		}
		if len(dg) != len(dw) {
			t.Fatalf("%s: %d detections, reference %d", c, len(dg), len(dw))
		}
		for i := range dg {
			if iou := vision.IoU(dg[i].Box, dw[i].Box); iou < 0.999 || math.Abs(float64(dg[i].Score-dw[i].Score)) > 1e-4 {
				t.Errorf("%s: detection %d %+v vs reference %+v (IoU %.4f)", c, i, dg[i], dw[i], iou)
			}
			if len(dg[i].Keypoints) != 6 {
				t.Errorf("%s: %d keypoints", c, len(dg[i].Keypoints))
			}
		}
		if c.faces != (len(dg) > 0) {
			t.Errorf("%s: %d faces found, want faces: %v", c, len(dg), c.faces)
		}
		found += len(dg)
		for _, d := range dg {
			t.Logf("  face %.2f at %.0f,%.0f-%.0f,%.0f", d.Score, d.Box.X1, d.Box.Y1, d.Box.X2, d.Box.Y2)
		}
	}
	if found == 0 {
		t.Fatal("no face found on any image")
	}
}

// The full-range models (dense fp16, and sparse fp16 weights that the
// converter densifies) find the faces the short-range model finds on the
// close-up crops, where both see them, and nothing on the fruit.
func TestFullRangeDetections(t *testing.T) {
	short := session(t, convertTo(t, shortPath))
	full := map[string]*models.Session{"full_range": session(t, convertTo(t, fullPath)), "full_range_sparse": session(t, convertTo(t, sparsePath))}
	post := blazePost()
	for _, c := range faceCases {
		img := c.load(t)
		in, lb := blazeInput(t, img, 128)
		out, err := short.Run([]models.Tensor{in})
		if err != nil {
			t.Fatal(err)
		}
		ref, err := post.Run(toVision(out), lb)
		if err != nil {
			t.Fatal(err)
		}
		in2, lb2 := blazeInput(t, img, 192)
		for name, s := range full {
			out, err := s.Run([]models.Tensor{in2})
			if err != nil {
				t.Fatal(err)
			}
			if out[0].Shape[1] != 2304 {
				t.Fatalf("%s: output %v, want 2304 anchors", name, out[0].Shape)
			}
			dets, err := post.Run(toVision(out), lb2)
			if err != nil {
				t.Fatal(err)
			}
			for _, d := range dets {
				t.Logf("%s %s: face %.2f at %.0f,%.0f-%.0f,%.0f", name, c, d.Score, d.Box.X1, d.Box.Y1, d.Box.X2, d.Box.Y2)
			}
			if c.image == "fruits.jpg" && len(dets) > 0 {
				t.Errorf("%s %s: %d faces on fruit", name, c, len(dets))
			}
			for _, r := range ref {
				best := float32(0)
				for _, d := range dets {
					best = max(best, vision.IoU(r.Box, d.Box))
				}
				if best < 0.5 {
					t.Errorf("%s %s: the short-range face %+v has no match (best IoU %.2f) among %d", name, c, r.Box, best, len(dets))
				}
			}
		}
	}
}

// The files `make deps` fetched are the ones the model registry pins
// (`edgeflow model pull face-detection-*-tflite`, `blazeface`).
func TestFetchedModelsMatchRegistry(t *testing.T) {
	for name, path := range map[string]string{
		"face-detection-short-range-tflite":       shortPath,
		"face-detection-full-range-tflite":        fullPath,
		"face-detection-full-range-sparse-tflite": sparsePath,
		"blazeface": refPath,
	} {
		e, ok := registry.Lookup(name)
		if !ok {
			t.Fatalf("registry has no %s", name)
		}
		data, err := os.ReadFile(need(t, path))
		if err != nil {
			t.Fatal(err)
		}
		if sum := sha256.Sum256(data); hex.EncodeToString(sum[:]) != e.SHA256 {
			t.Errorf("%s: sha256 %x, registry says %s", path, sum, e.SHA256)
		}
	}
}
