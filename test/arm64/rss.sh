#!/usr/bin/env bash
# Memory of the anomaly example (examples/anomaly/pipeline.yaml, embedded
# MQTT and NATS brokers) at about 1,000 readings/s: 10 simulated machines
# (30 sensors, one reading a second each) played 33x faster by a native
# `edgeflow simulate`, for 60 s. Prints the peak and last resident set
# (VmHWM, VmRSS) of the edgeflow process and the Go runtime's own total
# (go_memstats_sys_bytes from /metrics).
#
#   test/arm64/rss.sh EDGEFLOW [MODEL]
#
# EDGEFLOW is a binary or a wrapper that execs one (bin/arm64/test/edgeflow-qemu,
# which test/arm64/run.sh writes, runs the arm64 build under qemu: its RSS
# then includes qemu's own, so it is an upper bound). Memory only: under
# emulation the timing means nothing.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
bin="$1"
model="${2:-$root/bin/arm64/test/anomaly.int8.onnx}"
native="$root/bin/arm64/test/edgeflow-amd64"
[[ -x "$native" ]] || go build -trimpath -o "$native" ./cmd/edgeflow
export METRICS_LISTEN=127.0.0.1:19474 MQTT_LISTEN=127.0.0.1:11893 NATS_LISTEN=127.0.0.1:14232
export ANOMALY_MODEL="$model" MQTT_CLIENT_ID=edgeflow-rss XDG_CACHE_HOME
XDG_CACHE_HOME="$(mktemp -d)"
trap 'kill -TERM "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -rf "$XDG_CACHE_HOME"' EXIT

"$bin" run examples/anomaly/pipeline.yaml >/dev/null 2>"$XDG_CACHE_HOME/log" &
pid=$!
for _ in $(seq 1 600); do
	curl -sf "http://$METRICS_LISTEN/readyz" >/dev/null 2>&1 && break
	kill -0 "$pid" 2>/dev/null || { tail "$XDG_CACHE_HOME/log" >&2; exit 1; }
	sleep 0.5
done
"$native" simulate --url "tcp://$MQTT_LISTEN" --machines 10 --machine-readings 2000 --speed 33x \
	--client-id edgeflow-rss-sim 2>&1 | tail -n 1
gosys=$(curl -sf "http://$METRICS_LISTEN/metrics" | awk '/^go_memstats_sys_bytes /{print $2}')
read -r hwm rss < <(awk '/^VmHWM/{h=$2} /^VmRSS/{r=$2} END{print h, r}' "/proc/$pid/status")
printf 'peak RSS %.0f MB, last RSS %.0f MB, Go runtime (go_memstats_sys_bytes) %.0f MB\n' \
	"$((hwm / 1024))" "$((rss / 1024))" "$(awk -v b="$gosys" 'BEGIN{print b/1048576}')"
