//go:build gocv && !matprofile

package face_test

// liveMats is -1 without the matprofile tag: Mats are not counted.
func liveMats() int { return -1 }
