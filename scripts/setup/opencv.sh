#!/usr/bin/env bash
# Installs OpenCV's development files for the gocv build tag (the camera
# source, the image stage and the annotate sink).
#
# gocv.io/x/gocv v0.31.0 is pinned in go.mod because it is the release that
# matches Debian's libopencv-dev (OpenCV 4.6.0); newer gocv wants a newer
# OpenCV. Idempotent: does nothing when pkg-config already finds opencv4, and
# runs apt-get update only when something must be installed.
set -euo pipefail

if pkg-config --exists opencv4 2>/dev/null; then
	exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
	echo "opencv.sh: OpenCV 4.6 development files are needed (pkg-config opencv4); install them with your package manager" >&2
	exit 1
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "setup: installing libopencv-dev (OpenCV for -tags gocv)" >&2
$SUDO apt-get update -qq
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends libopencv-dev pkg-config >/dev/null
pkg-config --exists opencv4 || { echo "opencv.sh: pkg-config still finds no opencv4 after the install" >&2; exit 1; }
echo "setup: OpenCV $(pkg-config --modversion opencv4) ready" >&2
