# syntax=docker/dockerfile:1
#
# edgeflow in a container: `docker compose up` at the repository root runs
# the anomaly example against Mosquitto and nats-server (docker-compose.yml).
#
#   docker build -t edgeflow .
#   docker run --rm edgeflow validate examples/anomaly/pipeline.yaml
#
# Multi-arch (linux/amd64 and linux/arm64: Raspberry Pi 4/5, Jetson, i.MX,
# Rockchip), from the same sources with BuildKit:
#
#   docker buildx build --platform linux/amd64,linux/arm64 -t REGISTRY/edgeflow --push .
#
# The build stages run on the build machine's own platform ($BUILDPLATFORM)
# and cross-compile for $TARGETARCH with Debian's cross gcc; the final stage
# (the target's) only copies, so no step runs under emulation.

# The ONNX Runtime shared library ships inside the onnxruntime-node npm
# package; take the one for the target's architecture.
FROM --platform=$BUILDPLATFORM node:20-bookworm-slim AS onnxruntime
ARG TARGETARCH
ARG ORT_VERSION=1.25.1
WORKDIR /ort
RUN case "${TARGETARCH}" in amd64) arch=x64 ;; arm64) arch=arm64 ;; *) echo "unsupported TARGETARCH ${TARGETARCH}" >&2; exit 1 ;; esac \
 && npm pack --silent onnxruntime-node@${ORT_VERSION} \
 && tar -xzf onnxruntime-node-${ORT_VERSION}.tgz \
 && cp package/bin/napi-v6/linux/${arch}/libonnxruntime.so.1 /ort/libonnxruntime.so.1

# onnxruntime_go loads the library with cgo, so the binary is built with it,
# by the target's cross gcc when the target is not the build platform.
FROM --platform=$BUILDPLATFORM golang:1.26-bookworm AS build
ARG TARGETARCH
RUN case "${TARGETARCH}" in amd64) triple=x86_64-linux-gnu ;; arm64) triple=aarch64-linux-gnu ;; *) echo "unsupported TARGETARCH ${TARGETARCH}" >&2; exit 1 ;; esac \
 && if [ "${TARGETARCH}" != "$(dpkg --print-architecture)" ]; then \
      apt-get update -qq \
      && apt-get install -y -qq --no-install-recommends "gcc-$(echo ${triple} | tr _ -)" "libc6-dev-${TARGETARCH}-cross" \
      && rm -rf /var/lib/apt/lists/* \
      && echo "${triple}-gcc" >/cc; \
    else echo gcc >/cc; fi
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=docker
RUN CGO_ENABLED=1 GOOS=linux GOARCH=${TARGETARCH} CC="$(cat /cc)" \
    go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/edgeflow ./cmd/edgeflow \
 && mkdir -p /out/dirs/models /out/dirs/var/lib/edgeflow

# The target's stage has no RUN: it needs no emulation to build for arm64 on
# x86-64 (or the reverse). edgeflow runs as uid 10001, HOME /var/lib/edgeflow
# (its caches: ~/.cache/edgeflow), models in /models.
FROM debian:bookworm-slim
COPY --from=build --chown=10001:10001 /out/dirs/models /models
COPY --from=build --chown=10001:10001 /out/dirs/var/lib/edgeflow /var/lib/edgeflow
COPY --from=onnxruntime /ort/libonnxruntime.so.1 /usr/local/lib/libonnxruntime.so.1
COPY --from=build /out/edgeflow /usr/local/bin/edgeflow
COPY --chown=10001:10001 examples /app/examples
ENV ONNXRUNTIME_LIB=/usr/local/lib/libonnxruntime.so.1 HOME=/var/lib/edgeflow
WORKDIR /app
USER 10001:10001
ENTRYPOINT ["edgeflow"]
CMD ["version"]
