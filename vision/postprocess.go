package vision

import "fmt"

// Postprocess is the full decoding of one frame's model outputs: decode,
// score threshold, class filter, NMS, mapping back through the letterbox
// and naming the classes. The zero value of each option takes the usual
// default.
type Postprocess struct {
	Decoder Decoder
	// Threshold is the lowest score kept.
	Threshold float32
	// IoU is the NMS overlap above which the weaker box is dropped.
	IoU float32
	// ClassAgnostic makes NMS suppress across classes.
	ClassAgnostic bool
	// MaxDetections caps the result (0: no cap).
	MaxDetections int
	// Labels name the class ids; an id without a name is called "class<N>".
	Labels []string
	// Allow, when non-empty, keeps only these class ids.
	Allow map[int]bool
}

// Run decodes outputs of a model whose input lb describes, and returns the
// detections in source pixels, best first.
func (p *Postprocess) Run(outputs []Tensor, lb Letterbox) ([]Detection, error) {
	if len(outputs) == 0 {
		return nil, errNoOutputs
	}
	if !lb.Valid() {
		return nil, fmt.Errorf("letterbox %+v is incomplete", lb)
	}
	dets, err := p.Decoder.Decode(outputs, lb.DstW, lb.DstH, p.Threshold)
	if err != nil {
		return nil, err
	}
	if len(p.Allow) > 0 {
		kept := dets[:0]
		for _, d := range dets {
			if p.Allow[d.ClassID] {
				kept = append(kept, d)
			}
		}
		dets = kept
	}
	if s, ok := p.Decoder.(Suppressor); ok {
		dets = s.Suppress(dets, p.IoU, p.MaxDetections)
	} else {
		dets = NMS(dets, p.IoU, !p.ClassAgnostic, p.MaxDetections)
	}
	for i := range dets {
		dets[i].Box = lb.ToSource(dets[i].Box)
		for k, pt := range dets[i].Keypoints {
			dets[i].Keypoints[k] = lb.PointToSource(pt)
		}
		dets[i].Class = p.Label(dets[i].ClassID)
	}
	if dets == nil {
		dets = []Detection{} // encodes as [], not null
	}
	return dets, nil
}

// Label names a class id.
func (p *Postprocess) Label(id int) string {
	if id >= 0 && id < len(p.Labels) {
		return p.Labels[id]
	}
	return fmt.Sprintf("class%d", id)
}
