// Package onnxpb holds Go types for the ONNX protobuf schema (onnx.proto as
// Debian's libonnx-dev ships it: onnx 1.12, IR version 8).
//
// The generated code is committed so that building edgeflow needs no protoc.
// Fields that newer ONNX versions add are kept as unknown fields by the
// protobuf runtime, so models written by newer tools still load and
// round-trip. Regenerate with `go generate ./models/onnxpb`, which installs
// protobuf-compiler and libonnx-dev with apt-get when they are missing.
package onnxpb

//go:generate bash gen.sh
