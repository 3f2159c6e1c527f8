//go:build gocv && matprofile

package main

import "gocv.io/x/gocv"

// liveMats counts OpenCV Mats through gocv's Mat profile, which records
// every Mat gocv creates (ours and those its functions return) until Close.
func liveMats() (count func() int, ok bool) { return gocv.MatProfile.Count, true }
