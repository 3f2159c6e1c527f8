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
