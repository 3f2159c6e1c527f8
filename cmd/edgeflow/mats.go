//go:build !gocv

package main

// liveMats counts OpenCV Mats. A build without the gocv tag has no OpenCV,
// so none are ever live.
func liveMats() (count func() int, ok bool) { return func() int { return 0 }, true }
