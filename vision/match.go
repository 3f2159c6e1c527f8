package vision

import "slices"

// Match pairs detections of a and b greedily, best score first: a pair
// has the same class and an IoU of at least minIoU. It returns the number
// of pairs. Comparing a model with its compressed version counts how many
// of the reference's detections the other still finds.
func Match(a, b []Detection, minIoU float32) int {
	used := make([]bool, len(b))
	order := slices.Clone(a)
	slices.SortFunc(order, func(x, y Detection) int { return cmpDesc(x.Score, y.Score) })
	n := 0
	for _, d := range order {
		best, bestIoU := -1, minIoU
		for j, e := range b {
			if used[j] || e.ClassID != d.ClassID {
				continue
			}
			if iou := IoU(d.Box, e.Box); iou >= bestIoU {
				best, bestIoU = j, iou
			}
		}
		if best >= 0 {
			used[best] = true
			n++
		}
	}
	return n
}

func cmpDesc(a, b float32) int {
	switch {
	case a > b:
		return -1
	case a < b:
		return 1
	}
	return 0
}
