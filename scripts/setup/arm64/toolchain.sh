#!/usr/bin/env bash
# Installs what cross-compiling edgeflow for linux/arm64 and running it under
# emulation need: Debian's aarch64 cross compilers (C for onnxruntime_go's
# cgo, C++ for gocv), qemu-user (qemu-aarch64) and the arm64 ONNX Runtime
# library into .cache/onnxruntime-arm64. `make deps-arm64` runs it, not
# `make deps`. Idempotent and quiet when everything is there.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
. "$here/../lib.bash"
apt_install gcc-aarch64-linux-gnu g++-aarch64-linux-gnu libc6-dev-arm64-cross binutils-aarch64-linux-gnu qemu-user pkg-config
bash "$here/../onnxruntime.sh" arm64
