package vision

import (
	"cmp"
	"slices"
)

// NMS runs greedy non-maximum suppression on dets in place and returns the
// kept detections, best score first. With classAware, a box only suppresses
// boxes of its own class (two overlapping objects of different classes both
// stay); otherwise any overlap above iou suppresses. limit > 0 keeps at most
// that many.
func NMS(dets []Detection, iou float32, classAware bool, limit int) []Detection {
	slices.SortStableFunc(dets, func(a, b Detection) int { return cmp.Compare(b.Score, a.Score) })
	kept := dets[:0]
	for i := range dets {
		d := dets[i]
		keep := true
		for _, k := range kept {
			if classAware && k.ClassID != d.ClassID {
				continue
			}
			if IoU(k.Box, d.Box) > iou {
				keep = false
				break
			}
		}
		if keep {
			kept = append(kept, d)
			if limit > 0 && len(kept) == limit {
				break
			}
		}
	}
	return kept
}

// Suppressor is a Decoder that suppresses overlapping detections its own
// way; Postprocess uses it instead of NMS.
type Suppressor interface {
	Suppress(dets []Detection, iou float32, limit int) []Detection
}

// WeightedNMS is MediaPipe's weighted non-maximum suppression: the best
// remaining detection and every other one overlapping it by more than iou
// are merged into one, whose box and keypoints are their score-weighted
// average and whose score is the best one's. It returns the merged
// detections, best first; limit > 0 keeps at most that many.
func WeightedNMS(dets []Detection, iou float32, limit int) []Detection {
	slices.SortStableFunc(dets, func(a, b Detection) int { return cmp.Compare(b.Score, a.Score) })
	remaining := slices.Clone(dets)
	var out []Detection
	for len(remaining) > 0 && (limit <= 0 || len(out) < limit) {
		best := remaining[0]
		var sum float32
		var box Box
		n := 0
		kps := make([]Point, len(best.Keypoints))
		rest := remaining[:0]
		for _, d := range remaining {
			if IoU(best.Box, d.Box) <= iou && d.Box != best.Box {
				rest = append(rest, d)
				continue
			}
			n++
			sum += d.Score
			box.X1 += d.Score * d.Box.X1
			box.Y1 += d.Score * d.Box.Y1
			box.X2 += d.Score * d.Box.X2
			box.Y2 += d.Score * d.Box.Y2
			for k := range kps {
				if k < len(d.Keypoints) {
					kps[k].X += d.Score * d.Keypoints[k].X
					kps[k].Y += d.Score * d.Keypoints[k].Y
				}
			}
		}
		remaining = rest
		merged := best
		if n > 1 && sum > 0 { // a lone detection stays as it is, as in MediaPipe
			merged.Box = Box{box.X1 / sum, box.Y1 / sum, box.X2 / sum, box.Y2 / sum}
			for k := range kps {
				kps[k].X /= sum
				kps[k].Y /= sum
			}
			if len(kps) > 0 {
				merged.Keypoints = kps
			}
		}
		out = append(out, merged)
	}
	return out
}
