//go:build gocv && !matprofile

package main

// liveMats counts OpenCV Mats. Only gocv's Mat profile (the matprofile tag,
// which make build-gocv sets) can, so without it there is no metric rather
// than a wrong one.
func liveMats() (count func() int, ok bool) { return nil, false }
