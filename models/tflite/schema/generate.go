// Package schema holds Go types for the part of TensorFlow Lite's flatbuffer
// model schema that the converter reads (schema.fbs, written by hand from
// upstream's layout: no package ships schema.fbs).
//
// The generated code is committed so that building edgeflow needs no flatc.
// Regenerate with `go generate ./models/tflite/schema`, which installs
// Debian's flatbuffers-compiler with apt-get when it is missing.
package schema

//go:generate bash gen.sh
