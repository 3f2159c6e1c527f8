//go:build gocv && !matprofile

package image

// liveMats is -1 without the matprofile tag: Mats are not counted.
func liveMats() int { return -1 }
