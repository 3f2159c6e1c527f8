//go:build gocv && matprofile

package image

import "gocv.io/x/gocv"

// liveMats counts the Mats not yet closed (gocv's matprofile tag).
func liveMats() int { return gocv.MatProfile.Count() }
