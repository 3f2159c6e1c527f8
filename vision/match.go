package vision

import "slices"

// Match pairs detections of a and b greedily, best score first: a pair
// has the same class and an IoU of at least minIoU. It returns the number
// of pairs. Comparing a model with its compressed version counts how many
// of the reference's detections the other still finds.
func Match(a, b []Detection, minIoU float32) int {
	pa, _ := Pairs(a, b, minIoU)
	n := 0
	for _, p := range pa {
		if p {
			n++
		}
	}
	return n
}

// Pairs pairs detections as Match does and says which of a and which of
// b found a partner, so that the unpaired ones (the disagreements) can be
// looked at.
func Pairs(a, b []Detection, minIoU float32) (pairedA, pairedB []bool) {
	pairedA, pairedB = make([]bool, len(a)), make([]bool, len(b))
	order := make([]int, len(a))
	for i := range order {
		order[i] = i
	}
	// Sorting indices makes the same comparisons, so the same order, as
	// sorting the detections themselves.
	slices.SortFunc(order, func(x, y int) int { return cmpDesc(a[x].Score, a[y].Score) })
	for _, i := range order {
		d := a[i]
		best, bestIoU := -1, minIoU
		for j, e := range b {
			if pairedB[j] || e.ClassID != d.ClassID {
				continue
			}
			if iou := IoU(d.Box, e.Box); iou >= bestIoU {
				best, bestIoU = j, iou
			}
		}
		if best >= 0 {
			pairedA[i], pairedB[best] = true, true
		}
	}
	return pairedA, pairedB
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
