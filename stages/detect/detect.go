// Package detect is the `detect` stage: it decodes an object detector's raw
// outputs (YOLOX, NanoDet, UltraFace, BlazeFace) into scored, named boxes in the source
// image's pixels, with score threshold, class filter and class-aware NMS.
// It is pure Go (see package vision) and needs no build tag.
package detect

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/edgeflow/edgeflow/codec"
	"github.com/edgeflow/edgeflow/component"
	"github.com/edgeflow/edgeflow/pipeline"
	"github.com/edgeflow/edgeflow/vision"
)

func init() {
	component.Register(component.Spec{
		Kind:    pipeline.KindStage,
		Name:    "detect",
		Summary: "Decode detector outputs (YOLOX, NanoDet, UltraFace, BlazeFace) into boxes on the source image, with NMS.",
		Description: `Reads the model outputs named in ` + "`outputs`" + ` (each a ` + "`[]float32`" + ` with its shape in
` + "`<field>_shape`" + `, as the ` + "`onnx`" + ` stage writes them) and the letterbox the ` + "`image`" + ` stage
recorded, and decodes:

- ` + "`yolox`" + `: one output [1,N,5+C] over grids of strides 8/16/32 (cx=(x+gx)·s, w=exp(w)·s,
  score = objectness × class);
- ` + "`nanodet`" + `: NanoDet-Plus, a class output [1,n,C] and a box-distribution output
  [1,n,4·(reg_max+1)] per stride (any order; matched by size);
- ` + "`ultraface`" + `: scores [1,N,2] and boxes [1,N,4], decoded corner boxes (or raw prior offsets with
  ` + "`raw: true`" + `);
- ` + "`blazeface`" + `: MediaPipe's BlazeFace face detectors (face_detection_short_range 128×128,
  full_range 192×192, the back-camera 256×256 model; e.g. converted with ` + "`edgeflow model convert`" + `):
  scores [1,N,1] (logits) and regressors [1,N,16], whole or split by stride, decoded against
  MediaPipe's SSD anchors (picked by input size); each face carries 6 keypoints (eyes, nose tip,
  mouth, ears) in ` + "`keypoints`" + `, and overlapping faces are merged by weighted NMS
  (MediaPipe's; use ` + "`iou: 0.3`" + `).

Then it keeps scores ≥ ` + "`threshold`" + `, keeps only ` + "`classes`" + ` if given, runs NMS (per class unless
` + "`class_agnostic`" + `), maps the boxes back to source pixels and names the classes.

The message leaves with ` + "`fields.detections`" + ` = a list of
` + "`{class, class_id, score, box: {x1, y1, x2, y2}}`" + ` (plus ` + "`keypoints: [{x, y}...]`" + ` for BlazeFace; best first; [] when nothing was found),
` + "`count`" + `, ` + "`capture_time`" + ` (the source time, RFC 3339), and the fields listed in ` + "`keep`" + `
(by default the camera id, the frame id and the frame itself, for an annotating sink).
Every other field (the big tensors) is dropped, so the message encodes to small JSON.`,
		Fields: []component.Field{
			{Name: "model", Type: component.String, Enum: []string{"yolox", "nanodet", "ultraface", "blazeface"},
				Description: "Which decoder."},
			{Name: "outputs", Type: component.StringList, Default: []string{"output"}, Example: "[cls8, reg8, cls16, reg16, cls32, reg32]",
				Description: "Fields holding the model outputs."},
			{Name: "threshold", Type: component.Float, Default: 0.3, Min: component.Bound(0), Max: component.Bound(1),
				Description: "Lowest score kept."},
			{Name: "iou", Type: component.Float, Default: 0.45, Min: component.Bound(0), Max: component.Bound(1),
				Description: "NMS overlap above which the weaker box is dropped."},
			{Name: "class_agnostic", Type: component.Bool, Default: false,
				Description: "Let any box suppress any other (by default only boxes of the same class)."},
			{Name: "max_detections", Type: component.Int, Default: 100, Min: component.Bound(0),
				Description: "Most detections per frame (0: no limit)."},
			{Name: "labels", Type: component.Any, Optional: true, Example: "coco",
				Description: "Class names: `coco` (the 80 COCO names, default for yolox and nanodet), a list, or a file with one name a line (relative to the pipeline file). UltraFace's and BlazeFace's one class is `face`."},
			{Name: "classes", Type: component.StringList, Optional: true, Example: "[person, car, truck]",
				Description: "Keep only these classes (names or ids)."},
			{Name: "strides", Type: component.FloatList, Optional: true,
				Description: "Feature-map strides (default 8, 16, 32)."},
			{Name: "reg_max", Type: component.Int, Default: 7, Min: component.Bound(1),
				Description: "NanoDet: last bin of the box distribution."},
			{Name: "center_offset", Type: component.Float, Default: 0.5, Min: component.Bound(0), Max: component.Bound(1),
				Description: "NanoDet: a cell's centre is at (cell + center_offset)·stride, in strides. 0.5 (the cell's middle) for NanoDet's GFL head and the opencv_zoo export; 0 for NanoDet-Plus's own export."},
			{Name: "raw", Type: component.Bool, Default: false,
				Description: "UltraFace: outputs are logits and prior offsets (the export without postprocessing)."},
			{Name: "letterbox_field", Type: component.String, Default: "letterbox",
				Description: "Field with the letterbox from the image stage."},
			{Name: "shape_suffix", Type: component.String, Default: "_shape",
				Description: "Suffix of the shape fields."},
			{Name: "output", Type: component.String, Default: "detections",
				Description: "Field that receives the detections."},
			{Name: "keep", Type: component.StringList, Default: []string{"camera", "frame_id", "frame"},
				Description: "Input fields to keep; all others are dropped."},
		},
		Example: `stages:
  detect:
    type: detect
    input: infer
    model: yolox
    outputs: [output]
    threshold: 0.35
    classes: [person, car, truck, bus]`,
		New: newStage,
	})
}

// Stage is the detect stage. It implements pipeline.Processor and is safe
// for concurrent use.
type Stage struct {
	post     vision.Postprocess
	outputs  []string
	suffix   string
	lbField  string
	outField string
	keep     []string
}

func newStage(conf *component.Config, res *component.Resources) (any, error) {
	s := &Stage{
		outputs: conf.StringList("outputs"), suffix: conf.String("shape_suffix"),
		lbField: conf.String("letterbox_field"), outField: conf.String("output"), keep: conf.StringList("keep"),
	}
	if len(s.outputs) == 0 {
		return nil, conf.Errorf("outputs", "name at least one output field")
	}
	var strides []int
	for _, v := range conf.FloatList("strides") {
		if v < 1 || v != math.Trunc(v) {
			return nil, conf.Errorf("strides", "strides are positive integers, got %v", v)
		}
		strides = append(strides, int(v))
	}
	model := conf.String("model")
	labels := vision.COCO80
	switch model {
	case "yolox":
		s.post.Decoder = vision.YOLOX{Strides: strides}
	case "nanodet":
		s.post.Decoder = vision.NanoDet{Strides: strides, RegMax: conf.Int("reg_max"), CenterOffset: float32(conf.Float("center_offset"))}
	case "ultraface":
		s.post.Decoder = vision.UltraFace{Raw: conf.Bool("raw")}
		labels = []string{"face"}
	case "blazeface":
		s.post.Decoder = vision.BlazeFace{}
		labels = []string{"face"}
	}
	if conf.Has("labels") {
		var err error
		if labels, err = readLabels(conf, res.Dir); err != nil {
			return nil, err
		}
	}
	s.post.Labels = labels
	s.post.Threshold = float32(conf.Float("threshold"))
	s.post.IoU = float32(conf.Float("iou"))
	s.post.ClassAgnostic = conf.Bool("class_agnostic")
	s.post.MaxDetections = conf.Int("max_detections")
	if conf.Has("classes") {
		s.post.Allow = map[int]bool{}
		for _, c := range conf.StringList("classes") {
			id := -1
			for i, name := range labels {
				if name == c {
					id = i
					break
				}
			}
			if id < 0 {
				n, err := strconv.Atoi(c)
				if err != nil || n < 0 {
					return nil, conf.Errorf("classes", "unknown class %q (not a label, not an id)", c)
				}
				id = n
			}
			s.post.Allow[id] = true
		}
	}
	return s, nil
}

// readLabels reads the labels option. Reading a small labels file is not
// I/O in the sense of the no-I/O rule for constructors: it is config.
func readLabels(conf *component.Config, dir string) ([]string, error) {
	switch v := conf.Any("labels").(type) {
	case string:
		if v == "coco" {
			return vision.COCO80, nil
		}
		path := v
		if !filepath.IsAbs(path) && dir != "" {
			path = filepath.Join(dir, path)
		}
		f, err := os.Open(path)
		if err != nil {
			return nil, conf.Errorf("labels", "labels file: %v", err)
		}
		defer f.Close()
		names, err := vision.ReadLabels(f)
		if err != nil {
			return nil, conf.Errorf("labels", "%s: %v", path, err)
		}
		return names, nil
	case []any:
		names := make([]string, len(v))
		for i, x := range v {
			s, ok := x.(string)
			if !ok || s == "" {
				return nil, conf.Errorf("labels", "label %d is %v, want a name", i, x)
			}
			names[i] = s
		}
		if len(names) == 0 {
			return nil, conf.Errorf("labels", "empty list of labels")
		}
		return names, nil
	}
	return nil, conf.Errorf("labels", "want `coco`, a list of names or a file name")
}

// Process implements pipeline.Processor.
func (s *Stage) Process(_ context.Context, m *pipeline.Message, out pipeline.Emitter) error {
	lbv, ok := m.Fields[s.lbField]
	if !ok {
		return fmt.Errorf("no %q field: put an image stage before detect", s.lbField)
	}
	lb, err := vision.LetterboxFrom(lbv)
	if err != nil {
		return fmt.Errorf("field %q: %w", s.lbField, err)
	}
	tensors := make([]vision.Tensor, len(s.outputs))
	for i, name := range s.outputs {
		if tensors[i], err = s.tensor(m, name); err != nil {
			return err
		}
	}
	dets, err := s.post.Run(tensors, lb)
	if err != nil {
		return err
	}
	fields := make(map[string]any, len(s.keep)+3)
	for _, k := range s.keep {
		if v, ok := m.Fields[k]; ok {
			fields[k] = v
		}
	}
	fields[s.outField] = dets
	fields["count"] = len(dets)
	if !m.SourceTime.IsZero() {
		fields["capture_time"] = m.SourceTime.UTC().Format(time.RFC3339Nano)
	}
	m.Fields = fields
	out.Emit(m)
	return nil
}

// tensor reads one output field and its shape.
func (s *Stage) tensor(m *pipeline.Message, name string) (vision.Tensor, error) {
	v, ok := m.Fields[name]
	if !ok {
		return vision.Tensor{}, fmt.Errorf("no output field %q", name)
	}
	switch t := v.(type) {
	case vision.Tensor:
		return t, nil
	case *vision.Tensor:
		return *t, nil
	case []float32:
		sv, ok := m.Fields[name+s.suffix]
		if !ok {
			return vision.Tensor{}, fmt.Errorf("no shape field %q for output %q", name+s.suffix, name)
		}
		shape, err := codec.FieldShape(sv)
		if err != nil {
			return vision.Tensor{}, fmt.Errorf("field %q: %w", name+s.suffix, err)
		}
		return vision.Tensor{Shape: shape, Data: t}, nil
	}
	return vision.Tensor{}, fmt.Errorf("field %q holds %T, want []float32", name, v)
}
