//go:build gocv && !matprofile

package frame

// LiveMats returns the number of OpenCV Mats not yet closed; ok is false
// because only gocv's Mat profile (the matprofile tag) can count them.
func LiveMats() (n int, ok bool) { return 0, false }
