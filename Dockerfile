# syntax=docker/dockerfile:1
#
# edgeflow in a container: `docker compose up` at the repository root runs
# the anomaly example against Mosquitto and nats-server (docker-compose.yml).
#
#   docker build -t edgeflow .
#   docker run --rm edgeflow validate examples/anomaly/pipeline.yaml

# The ONNX Runtime shared library ships inside the onnxruntime-node npm
# package; take the one for the build platform's architecture.
FROM node:20-bookworm-slim AS onnxruntime
ARG ORT_VERSION=1.25.1
WORKDIR /ort
RUN npm pack --silent onnxruntime-node@${ORT_VERSION} \
 && tar -xzf onnxruntime-node-${ORT_VERSION}.tgz \
 && case "$(uname -m)" in x86_64) arch=x64 ;; aarch64) arch=arm64 ;; *) echo "unsupported arch $(uname -m)" >&2; exit 1 ;; esac \
 && cp package/bin/napi-v6/linux/${arch}/libonnxruntime.so.1 /ort/libonnxruntime.so.1

# onnxruntime_go loads the library with cgo, so the binary is built with it.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=docker
RUN CGO_ENABLED=1 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/edgeflow ./cmd/edgeflow

FROM debian:bookworm-slim
RUN useradd --system --create-home --home-dir /var/lib/edgeflow edgeflow \
 && mkdir /models && chown edgeflow /models
COPY --from=onnxruntime /ort/libonnxruntime.so.1 /usr/local/lib/libonnxruntime.so.1
COPY --from=build /out/edgeflow /usr/local/bin/edgeflow
COPY examples /app/examples
ENV ONNXRUNTIME_LIB=/usr/local/lib/libonnxruntime.so.1
WORKDIR /app
RUN chown -R edgeflow /app
USER edgeflow
ENTRYPOINT ["edgeflow"]
CMD ["version"]
