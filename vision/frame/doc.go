// Package frame holds camera frames (OpenCV Mats) as they travel through a
// pipeline: a refcounted Frame that goes back to its Pool, or is closed, when
// the last holder releases it.
//
// Everything but this comment needs OpenCV and builds only with the gocv tag
// (go build -tags gocv, make build-gocv).
package frame
