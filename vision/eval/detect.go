package eval

import (
	"fmt"
	"strings"

	"github.com/edgeflow/edgeflow/models"
	"github.com/edgeflow/edgeflow/models/compare"
	"github.com/edgeflow/edgeflow/vision"
)

// Decoders are the detectors whose outputs Detect decodes, by name, with
// their default settings.
var Decoders = map[string]vision.Decoder{
	"yolox":     vision.YOLOX{},
	"nanodet":   vision.NanoDet{},
	"ultraface": vision.UltraFace{},
	"blazeface": vision.BlazeFace{},
}

// PresetFor guesses a model file's preprocessing from its name: the
// detector it names (yolox, nanodet, ultraface, blazeface; MediaPipe's
// face_detection files are blazeface), else rgb.
func PresetFor(modelPath string) string {
	preset := "rgb"
	lower := strings.ToLower(modelPath)
	for _, n := range []string{"yolox", "nanodet", "ultraface", "blazeface", "face_detection"} {
		if strings.Contains(lower, n) {
			preset = n
		}
	}
	if preset == "face_detection" { // MediaPipe's file names
		preset = "blazeface"
	}
	return preset
}

// Detect judges detectors by the detections two models agree on: both
// models' outputs are decoded (boxes in model-input pixels, as both saw
// the same input) and paired by Match (same class, IoU >= 0.5).
type Detect struct {
	// Decoder names the output decoder: a key of Decoders.
	Decoder string
	// Threshold is the detection score threshold (default 0.3) and IoU the
	// NMS overlap (default 0.45).
	Threshold, IoU float32
}

// Name is "detect".
func (Detect) Name() string { return "detect" }

// Fits is true: a Detect task is only offered for a named detector.
func (Detect) Fits(*models.Info) bool { return true }

// NewVerdict starts counting detections.
func (d Detect) NewVerdict() compare.Verdict {
	if d.Threshold == 0 {
		d.Threshold = 0.3
	}
	if d.IoU == 0 {
		d.IoU = 0.45
	}
	return &Detections{task: d}
}

// Detections is Detect's verdict: how many objects each model found and
// how many of them pair up.
type Detections struct {
	A, B, Matched int
	// Near counts the disagreements (detections of either model left
	// unpaired) whose score is less than NearMargin above the threshold:
	// objects the other model most likely scored just below it. A
	// quantised detector's scores move by a few hundredths, so on a scene
	// with many borderline objects such flips, not missed objects, make
	// up most of the disagreement. The agreement counts them all the same.
	Near int
	task Detect
}

// NearMargin is the score margin above the threshold within which a
// disagreement counts as Near.
const NearMargin = 0.05

// Add decodes both models' outputs for one sample and pairs them.
func (v *Detections) Add(s compare.Sample, a, b compare.Run) error {
	da, err := v.task.detect(a)
	if err != nil {
		return fmt.Errorf("model A, sample %s: %w", s.Name, err)
	}
	db, err := v.task.detect(b)
	if err != nil {
		return fmt.Errorf("model B, sample %s: %w", s.Name, err)
	}
	v.A, v.B = v.A+len(da), v.B+len(db)
	pa, pb := vision.Pairs(da, db, 0.5)
	for i, paired := range pa {
		if paired {
			v.Matched++
		}
		v.near(da[i], paired)
	}
	for i, paired := range pb {
		v.near(db[i], paired)
	}
	return nil
}

// near counts d in Near when it is an unpaired detection close to the
// threshold.
func (v *Detections) near(d vision.Detection, paired bool) {
	if !paired && d.Score < v.task.Threshold+NearMargin {
		v.Near++
	}
}

// Agreement is 2·matched / (detections of A + of B): 1 when neither model
// found anything.
func (v *Detections) Agreement() float64 {
	if v.A+v.B == 0 {
		return 1
	}
	return 2 * float64(v.Matched) / float64(v.A+v.B)
}

// Recall is the share of A's detections that B finds.
func (v *Detections) Recall() float64 {
	if v.A == 0 {
		return 0
	}
	return float64(v.Matched) / float64(v.A)
}

// Precision is the share of B's detections that A has.
func (v *Detections) Precision() float64 {
	if v.B == 0 {
		return 0
	}
	return float64(v.Matched) / float64(v.B)
}

func (d Detect) detect(r compare.Run) ([]vision.Detection, error) {
	dec, ok := Decoders[d.Decoder]
	if !ok {
		return nil, fmt.Errorf("unknown detector %q (want yolox, nanodet, ultraface or blazeface)", d.Decoder)
	}
	in := r.In[0]
	if len(in.Shape) != 4 {
		return nil, fmt.Errorf("detector input has shape %v, want [1,3,H,W] or [1,H,W,3]", in.Shape)
	}
	w, h := int(in.Shape[3]), int(in.Shape[2])
	if in.Shape[3] == 3 && in.Shape[1] != 3 { // NHWC (TFLite conversions)
		w, h = int(in.Shape[2]), int(in.Shape[1])
	}
	ts := make([]vision.Tensor, len(r.Out))
	for i, o := range r.Out {
		ts[i] = vision.Tensor{Shape: o.Shape, Data: o.Data}
	}
	// Boxes stay in model-input pixels: both models saw the same input.
	lb, err := vision.Stretch(w, h, w, h)
	if err != nil {
		return nil, err
	}
	p := vision.Postprocess{Decoder: dec, Threshold: d.Threshold, IoU: d.IoU}
	return p.Run(ts, lb)
}
