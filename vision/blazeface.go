package vision

import (
	"fmt"
	"math"
	"sync"
)

// BlazeFace decodes MediaPipe's BlazeFace face detectors
// (face_detection_short_range, face_detection_full_range and the older
// front/back models): scores [1,N,1] (logits) and regressors [1,N,16] (box
// centre and size, then 6 keypoints: right eye, left eye, nose tip, mouth,
// right ear tragion, left ear tragion), relative to SSD anchors. The
// outputs may come split by stride ([1,512,·] and [1,384,·], as the
// Barracuda ONNX export has them) in any order of scores and boxes; splits
// of one kind are taken in the order given.
//
// Decoding is MediaPipe's TensorsToDetectionsCalculator: centre =
// raw/size·anchor size + anchor centre, size = raw/size·anchor size, score
// = sigmoid(clip(raw, ±100)). BlazeFace suppresses with weighted NMS
// (Suppress): overlapping candidates are averaged, weighted by score.
type BlazeFace struct {
	// Anchors is the anchor layout; the zero value picks it by input size:
	// 128 short range, 192 full range, 256 the back-camera model.
	Anchors SSDAnchors
}

// FaceKeypoints name BlazeFace's six keypoints, in output order.
var FaceKeypoints = []string{"right_eye", "left_eye", "nose_tip", "mouth", "right_ear", "left_ear"}

const (
	blazeCoords    = 16
	blazeKeypoints = 6
)

var anchorCache sync.Map // anchorKey -> []Anchor

type anchorKey struct {
	w, h    int
	strides string
	o       float32
	n       int
	interp  float32
	fixed   bool
}

func (b BlazeFace) anchors(inW, inH int) ([]Anchor, error) {
	o := b.Anchors
	if len(o.Strides) == 0 {
		switch {
		case inW == 128 && inH == 128:
			o = BlazeFaceShortRange
		case inW == 192 && inH == 192:
			o = BlazeFaceFullRange
		case inW == 256 && inH == 256:
			o = BlazeFaceBack
		default:
			return nil, fmt.Errorf("blazeface: no known anchor layout for a %dx%d input (128, 192 or 256 square); set the anchors", inW, inH)
		}
	}
	k := anchorKey{inW, inH, fmt.Sprint(o.Strides, o.AspectRatios, o.MinScale, o.MaxScale, o.ReduceBoxesInLowestLayer), o.AnchorOffset, o.NumLayers, o.InterpolatedScaleAspectRatio, o.FixedAnchorSize}
	if a, ok := anchorCache.Load(k); ok {
		return a.([]Anchor), nil
	}
	a := o.Generate(inW, inH)
	anchorCache.Store(k, a)
	return a, nil
}

// Decode implements Decoder. Faces have class id 0; each carries its six
// keypoints.
func (b BlazeFace) Decode(outputs []Tensor, inW, inH int, threshold float32) ([]Detection, error) {
	if len(outputs) == 0 {
		return nil, errNoOutputs
	}
	var scores, boxes []float32
	for i, o := range outputs {
		sh, err := o.squeeze(fmt.Sprintf("blazeface output %d", i))
		if err != nil {
			return nil, err
		}
		switch {
		case len(sh) == 2 && sh[1] == 1, len(sh) == 1:
			scores = append(scores, o.Data...)
		case len(sh) == 2 && sh[1] == blazeCoords:
			boxes = append(boxes, o.Data...)
		default:
			return nil, fmt.Errorf("blazeface: output %d has shape %v; want scores [1,N,1] and regressors [1,N,16]", i, o.Shape)
		}
	}
	n := len(scores)
	if n == 0 || len(boxes) != n*blazeCoords {
		return nil, fmt.Errorf("blazeface: %d scores and %d regressor rows; want as many of each", n, len(boxes)/blazeCoords)
	}
	anchors, err := b.anchors(inW, inH)
	if err != nil {
		return nil, err
	}
	if len(anchors) != n {
		return nil, fmt.Errorf("blazeface: %d outputs rows, but a %dx%d input has %d anchors", n, inW, inH, len(anchors))
	}
	// A logit below this cannot reach threshold after the sigmoid.
	minLogit := float32(math.Inf(-1))
	if threshold > 0 && threshold < 1 {
		minLogit = float32(math.Log(float64(threshold) / (1 - float64(threshold))))
	}
	fw, fh := float32(inW), float32(inH)
	var dets []Detection
	for i, a := range anchors {
		logit := clamp(scores[i], -100, 100)
		if logit < minLogit {
			continue
		}
		s := float32(1 / (1 + math.Exp(-float64(logit))))
		if s < threshold {
			continue
		}
		r := boxes[i*blazeCoords : (i+1)*blazeCoords]
		cx := r[0]/fw*a.W + a.X
		cy := r[1]/fh*a.H + a.Y
		w := r[2] / fw * a.W
		h := r[3] / fh * a.H
		d := Detection{ClassID: 0, Score: s, Box: Box{(cx - w/2) * fw, (cy - h/2) * fh, (cx + w/2) * fw, (cy + h/2) * fh},
			Keypoints: make([]Point, blazeKeypoints)}
		for k := range blazeKeypoints {
			d.Keypoints[k] = Point{X: (r[4+2*k]/fw*a.W + a.X) * fw, Y: (r[5+2*k]/fh*a.H + a.Y) * fh}
		}
		dets = append(dets, d)
	}
	return dets, nil
}

// Suppress implements Suppressor with weighted NMS.
func (BlazeFace) Suppress(dets []Detection, iou float32, limit int) []Detection {
	return WeightedNMS(dets, iou, limit)
}
