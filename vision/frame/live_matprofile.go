//go:build gocv && matprofile

package frame

import "gocv.io/x/gocv"

// LiveMats returns the number of OpenCV Mats created in this process and
// not yet closed, ours and those gocv's functions return, as gocv's Mat
// profile records them; ok is false in a build without the matprofile tag,
// which cannot count them. The profile costs about 0.4 µs of CPU per Mat
// created and closed (BENCHMARKS.md, soak).
func LiveMats() (n int, ok bool) { return gocv.MatProfile.Count(), true }
