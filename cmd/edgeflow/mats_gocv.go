//go:build gocv

package main

import "github.com/edgeflow/edgeflow/vision/frame"

// liveMats counts OpenCV Mats through gocv's Mat profile; ok is false in a
// build without the matprofile tag (make build-gocv sets it), so that there
// is no metric rather than a wrong one.
func liveMats() (count func() int, ok bool) {
	if _, ok := frame.LiveMats(); !ok {
		return nil, false
	}
	return func() int { n, _ := frame.LiveMats(); return n }, true
}
