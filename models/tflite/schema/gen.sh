#!/usr/bin/env bash
# Regenerates the Go types from schema.fbs with Debian's flatc. Run through
# `go generate ./models/tflite/schema`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

if ! command -v flatc >/dev/null 2>&1; then
	echo "gen.sh: installing flatbuffers-compiler (apt-get)" >&2
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends flatbuffers-compiler >/dev/null
fi
find . -name '*.go' ! -name generate.go -delete
flatc --go --go-namespace schema -o .. schema.fbs
gofmt -w .
