//go:build gocv && !matprofile

package annotate

// liveMats is -1 without the matprofile tag: Mats are not counted.
func liveMats() int { return -1 }
