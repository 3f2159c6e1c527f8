#!/usr/bin/env bash
# make soak: the anomaly example under a steady load for SOAK_DURATION,
# sampling edgeflow's resident memory, goroutines and queue depths from
# /metrics every SOAK_INTERVAL into SOAK_OUT (CSV). After the warm-up (the
# first SOAK_WARMUP), resident memory must not grow by 5% or more (the mean
# of the last three samples against the mean of the first three after the
# warm-up), and goroutines must not grow: a leak shows as either.
#
# Load: SOAK_MACHINES simulated machines (3 sensors each, one reading per
# simulated second) at SOAK_SPEED, i.e. machines x 3 x speed readings/s.
# Set it to half of what this machine sustains (see BENCHMARKS.md).
#
# Environment: SOAK_DURATION (default 10m), SOAK_INTERVAL (10s), SOAK_WARMUP
# (a fifth of the duration), SOAK_MACHINES (4), SOAK_SPEED (25x), SOAK_OUT
# (soak.csv), NAB_DATA (for training the model the first time), EDGEFLOW_BIN.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
bin=${EDGEFLOW_BIN:-bin/edgeflow}
secs() { # 90s, 10m, 1h -> seconds
	local v=$1
	case $v in *h) echo $((${v%h} * 3600)) ;; *m) echo $((${v%m} * 60)) ;; *s) echo "${v%s}" ;; *) echo "$v" ;; esac
}
duration=$(secs "${SOAK_DURATION:-10m}")
interval=$(secs "${SOAK_INTERVAL:-10s}")
warmup=$(secs "${SOAK_WARMUP:-$((duration / 5))s}")
machines=${SOAK_MACHINES:-4}
speed=${SOAK_SPEED:-25x}
out=${SOAK_OUT:-soak.csv}
export METRICS_LISTEN=${METRICS_LISTEN:-127.0.0.1:19464}
export MQTT_LISTEN=${MQTT_LISTEN:-127.0.0.1:11883}
export NATS_LISTEN=${NATS_LISTEN:-127.0.0.1:14222}

[[ -x "$bin" ]] || go build -trimpath -o "$bin" ./cmd/edgeflow
if [[ ! -s examples/anomaly/model/anomaly.int8.onnx ]]; then
	nab=${NAB_DATA:-$root/../shared/data/nab}
	args=()
	for f in "$nab"/data/*/*.csv; do args+=(--csv "$f"); done
	mkdir -p examples/anomaly/model
	"$bin" model train anomaly "${args[@]}" --normal 0.15 --seed 1 \
		--out examples/anomaly/model/anomaly.onnx --int8 examples/anomaly/model/anomaly.int8.onnx
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/edgeflow-soak.XXXXXX")
edgeflow_pid="" sim_pid=""
cleanup() {
	local status=$?
	if [[ -n "$sim_pid" ]]; then
		kill "$sim_pid" 2>/dev/null || true
		wait "$sim_pid" 2>/dev/null || true
	fi
	if [[ -n "$edgeflow_pid" ]]; then
		kill -TERM "$edgeflow_pid" 2>/dev/null || true
		wait "$edgeflow_pid" 2>/dev/null || true
	fi
	[[ $status -ne 0 && -s "$work/edgeflow.log" ]] && tail -n 20 "$work/edgeflow.log" >&2
	rm -rf "$work"
	exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

"$bin" run --log-level warn examples/anomaly/pipeline.yaml >/dev/null 2>"$work/edgeflow.log" &
edgeflow_pid=$!
for _ in $(seq 1 150); do
	curl -sf "http://$METRICS_LISTEN/readyz" >/dev/null 2>&1 && break
	sleep 0.2
done
curl -sf "http://$METRICS_LISTEN/readyz" >/dev/null || { echo "edgeflow not ready" >&2; exit 1; }

# The simulator's machines play 3000 readings per sensor; run it in a loop.
(
	child=""
	trap '[[ -n "$child" ]] && kill "$child" 2>/dev/null; exit 0' TERM
	while :; do
		"$bin" simulate --url "tcp://$MQTT_LISTEN" --machines "$machines" --speed "$speed" --interval 1s >/dev/null 2>&1 &
		child=$!
		wait "$child" || exit 1
	done
) &
sim_pid=$!

echo "seconds,rss_bytes,goroutines,queued" >"$out"
echo "soak: ${duration}s, sampling every ${interval}s, warm-up ${warmup}s, $machines machines at $speed -> $out"
start=$(date +%s)
while :; do
	sleep "$interval"
	now=$(($(date +%s) - start))
	kill -0 "$edgeflow_pid" 2>/dev/null || { echo "edgeflow died" >&2; exit 1; }
	curl -sf "http://$METRICS_LISTEN/metrics" | awk -v t="$now" '
		/^process_resident_memory_bytes / { rss = $2 }
		/^go_goroutines / { g = $2 }
		/^edgeflow_node_queue_depth\{/ { q += $2 }
		END { printf "%d,%.0f,%d,%d\n", t, rss, g, q }' >>"$out"
	tail -n 1 "$out"
	((now >= duration)) && break
done

# Judge: the samples after the warm-up.
awk -F, -v w="$warmup" '
	NR > 1 && $1 >= w { n++; rss[n] = $2; gor[n] = $3 }
	END {
		if (n < 6) { print "soak: too few samples after the warm-up (" n "); run longer"; exit 1 }
		first = (rss[1] + rss[2] + rss[3]) / 3; last = (rss[n-2] + rss[n-1] + rss[n]) / 3
		growth = 100 * (last - first) / first
		g0 = (gor[1] + gor[2] + gor[3]) / 3; g1 = (gor[n-2] + gor[n-1] + gor[n]) / 3
		printf "soak: RSS %.1f MB -> %.1f MB after the warm-up (%+.1f%%); goroutines %.0f -> %.0f\n",
			first / 1e6, last / 1e6, growth, g0, g1
		if (growth >= 5) { print "soak: FAIL: resident memory grew by 5% or more"; exit 1 }
		if (g1 > g0 + 5) { print "soak: FAIL: goroutines grew"; exit 1 }
		print "soak: ok"
	}' "$out"
