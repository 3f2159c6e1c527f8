#!/usr/bin/env bash
# Fetches the ONNX Runtime shared library for this machine's architecture into
# the repo-local cache .cache/onnxruntime/lib/libonnxruntime.so.1.
#
# With an architecture as argument (arm64 or x64; aarch64, amd64 and x86_64
# are accepted too) it fetches that one instead, into its own cache
# .cache/onnxruntime-<arch>/lib/libonnxruntime.so.1, for cross-compiled
# binaries run under emulation (`make test-arm64`).
#
# The library ships inside the npm package onnxruntime-node; `npm pack` only
# downloads the tarball (no install scripts run), and we extract the one file
# we need. Idempotent and quiet when the library is already there.
set -euo pipefail

VERSION="${ONNXRUNTIME_NODE_VERSION:-1.25.1}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
CACHE="$ROOT/.cache/onnxruntime"
want="$(uname -m)"
if (($# > 0)); then
	want="$1"
fi

case "$want" in
x86_64 | amd64 | x64) arch=x64 ;;
aarch64 | arm64) arch=arm64 ;;
*)
	echo "onnxruntime.sh: no prebuilt ONNX Runtime in onnxruntime-node for $want; set ONNXRUNTIME_LIB to a libonnxruntime.so you built" >&2
	exit 1
	;;
esac
if (($# > 0)); then
	CACHE="$CACHE-$arch"
fi
LIB="$CACHE/lib/libonnxruntime.so.1"
STAMP="$CACHE/lib/VERSION"

if [[ -s "$LIB" && -f "$STAMP" && "$(cat "$STAMP")" == "$VERSION" ]]; then
	exit 0
fi

if ! command -v npm >/dev/null 2>&1; then
	. "$(dirname "${BASH_SOURCE[0]}")/lib.bash"
	apt_install npm
fi

mkdir -p "$CACHE/lib"
tmp="$(mktemp -d "$CACHE/tmp.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT

echo "onnxruntime.sh: fetching onnxruntime-node@$VERSION ($arch)" >&2
tarball="$(cd "$tmp" && npm pack --silent "onnxruntime-node@$VERSION" | tail -n1)"
member="package/bin/napi-v6/linux/$arch/libonnxruntime.so.1"
tar -xzf "$tmp/$tarball" -C "$tmp" "$member"
# Rename into place so that a half-written file is never seen as the library.
mv -f "$tmp/$member" "$LIB.partial"
mv -f "$LIB.partial" "$LIB"
echo "$VERSION" >"$STAMP"
echo "onnxruntime.sh: $LIB ready" >&2
