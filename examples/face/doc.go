// Package face is the face detection example (pipeline.yaml): video ->
// MediaPipe's BlazeFace, converted from TFLite with `edgeflow model convert`
// and quantised to int8 with `edgeflow model quantize` -> faces with their
// keypoints on MQTT. MakeVideo (gocv build tag) writes the test video from
// the shared media's stills; the tests and benchmark need OpenCV and run
// only with the gocv build tag: go test -tags gocv ./examples/face/.
package face
