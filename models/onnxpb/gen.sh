#!/usr/bin/env bash
# Regenerates onnx.pb.go from Debian's onnx.proto with the protoc-gen-go
# version pinned in go.mod. Run through `go generate ./models/onnxpb`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

PROTO=/usr/include/onnx/onnx.proto
if ! command -v protoc >/dev/null 2>&1 || [[ ! -f "$PROTO" ]]; then
	echo "gen.sh: installing protobuf-compiler and libonnx-dev (apt-get)" >&2
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq protobuf-compiler libonnx-dev >/dev/null
fi

bin="$(mktemp -d)"
trap 'rm -rf "$bin"' EXIT
GOFLAGS=-mod=mod go build -o "$bin/protoc-gen-go" google.golang.org/protobuf/cmd/protoc-gen-go

cp "$PROTO" "$bin/onnx.proto"
PATH="$bin:$PATH" protoc -I "$bin" \
	--go_out=. --go_opt=paths=source_relative \
	--go_opt=Monnx.proto=github.com/edgeflow/edgeflow/models/onnxpb \
	onnx.proto
