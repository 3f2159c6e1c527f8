// Package vision holds the pure-Go side of edgeflow's camera pipelines: the
// detection and letterbox types that travel in message fields, and the
// decoders that turn raw detector outputs (YOLOX, NanoDet, UltraFace,
// BlazeFace) into
// boxes in the original image's pixels.
//
// Nothing here needs OpenCV or ONNX Runtime, so it builds and is tested
// without the gocv build tag.
package vision

import (
	"errors"
	"fmt"
)

// Box is an axis-aligned box in pixels: (X1,Y1) top left, (X2,Y2) bottom
// right.
type Box struct {
	X1 float32 `json:"x1"`
	Y1 float32 `json:"y1"`
	X2 float32 `json:"x2"`
	Y2 float32 `json:"y2"`
}

// Area is the box's area, zero for an empty or inverted box.
func (b Box) Area() float32 {
	w, h := b.X2-b.X1, b.Y2-b.Y1
	if w <= 0 || h <= 0 {
		return 0
	}
	return w * h
}

// IoU is the intersection over union of two boxes.
func IoU(a, b Box) float32 {
	inter := Box{max(a.X1, b.X1), max(a.Y1, b.Y1), min(a.X2, b.X2), min(a.Y2, b.Y2)}.Area()
	if inter == 0 {
		return 0
	}
	return inter / (a.Area() + b.Area() - inter)
}

// Detection is one detected object. It is what the detect stage puts, as a
// list, in Fields["detections"], and it encodes to JSON as
// {"class":"person","class_id":0,"score":0.91,"box":{"x1":..}}.
type Detection struct {
	Class   string  `json:"class"`
	ClassID int     `json:"class_id"`
	Score   float32 `json:"score"`
	Box     Box     `json:"box"`
	// Keypoints are landmarks some detectors give (BlazeFace: eyes, nose,
	// mouth, ears), in the same pixels as Box.
	Keypoints []Point `json:"keypoints,omitempty"`
}

// Point is a position in pixels.
type Point struct {
	X float32 `json:"x"`
	Y float32 `json:"y"`
}

// Tensor is a dense float32 tensor in row-major order: a model output as the
// onnx stage hands it over.
type Tensor struct {
	Shape []int64
	Data  []float32
}

// check verifies that the shape matches the data and returns the shape with
// leading dimensions of 1 removed.
func (t Tensor) squeeze(name string) ([]int64, error) {
	n := int64(1)
	for _, d := range t.Shape {
		if d <= 0 {
			return nil, fmt.Errorf("tensor %s: bad shape %v", name, t.Shape)
		}
		n *= d
	}
	if len(t.Shape) == 0 || n != int64(len(t.Data)) {
		return nil, fmt.Errorf("tensor %s: shape %v does not hold %d values", name, t.Shape, len(t.Data))
	}
	s := t.Shape
	for len(s) > 1 && s[0] == 1 {
		s = s[1:]
	}
	return s, nil
}

// errNoOutputs is returned by decoders given nothing to decode.
var errNoOutputs = errors.New("no model outputs to decode")
