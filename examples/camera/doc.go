// Package camera holds the tests and benchmark of the camera example
// (pipeline.yaml). They need OpenCV and run only with the gocv build tag:
// make test-gocv, or go test -tags gocv ./examples/camera/.
package camera
