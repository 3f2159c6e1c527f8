#!/usr/bin/env bash
# make soak: the anomaly example under a steady load for SOAK_DURATION,
# sampling from /metrics every SOAK_INTERVAL into SOAK_OUT (CSV): resident
# memory, goroutines, live ONNX Runtime tensors and sessions, live OpenCV
# Mats, the summed and the largest queue depth, and the readings the
# pipeline acknowledged. After the warm-up (the first SOAK_WARMUP) it fails
# when
#   - resident memory grows by 5% or more (the mean of the last three
#     samples against the mean of the first three after the warm-up),
#   - goroutines grow (by more than 5),
#   - live tensors or Mats end above the highest count of the first half
#     after the warm-up (the count moves with runs in flight, but a leak
#     only climbs),
#   - the queues grow: the mean of the largest queue depth over the second
#     half after the warm-up exceeds that of the first half by more than a
#     tenth of a queue's capacity (at half its capacity the pipeline keeps
#     up, so its queues stay near empty; a pause of the shared machine may
#     fill one for a moment, a backlog that builds up stays),
#   - fewer readings are acknowledged than the simulator published: at the
#     end the simulator finishes its round and the pipeline gets a minute to
#     catch up.
#
# Load: SOAK_MACHINES simulated machines (3 sensors each, one reading per
# simulated second) at SOAK_SPEED, i.e. machines x 3 x speed readings/s.
# Set it to half of what this machine sustains (see BENCHMARKS.md).
#
# Environment: SOAK_DURATION (default 10m), SOAK_INTERVAL (10s), SOAK_WARMUP
# (a fifth of the duration), SOAK_MACHINES (20), SOAK_SPEED (33x), SOAK_OUT
# (soak.csv), EDGEFLOW_BIN, and the example's METRICS_LISTEN, MQTT_LISTEN,
# NATS_LISTEN (ports chosen to clash with nothing usual).
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
machines=${SOAK_MACHINES:-20}
speed=${SOAK_SPEED:-33x}
out=${SOAK_OUT:-soak.csv}
export METRICS_LISTEN=${METRICS_LISTEN:-127.0.0.1:29464}
export MQTT_LISTEN=${MQTT_LISTEN:-127.0.0.1:28853}
export NATS_LISTEN=${NATS_LISTEN:-127.0.0.1:24297}

[[ -x "$bin" ]] || go build -trimpath -o "$bin" ./cmd/edgeflow
model_dir=examples/anomaly/model
if [[ ! -s "$model_dir/anomaly.int8.onnx" ]]; then
	# As examples/anomaly/demo.sh does: pre-trained on synthetic series.
	mkdir -p "$model_dir"
	"$bin" model train anomaly --synthetic 20000 --seed 1 \
		--out "$model_dir/anomaly.onnx.tmp" --int8 "$model_dir/anomaly.int8.onnx.tmp"
	mv "$model_dir/anomaly.onnx.tmp" "$model_dir/anomaly.onnx"
	mv "$model_dir/anomaly.int8.onnx.tmp" "$model_dir/anomaly.int8.onnx"
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/edgeflow-soak.XXXXXX")
# The embedded JetStream keeps its store under the user's cache directory,
# which every anomaly demo on this box would share: this run gets its own.
export XDG_CACHE_HOME="$work/cache"
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

# The simulator's machines play 3000 readings per sensor; run it in rounds
# until $work/stop exists. Each round ends with a "published N readings"
# line in $work/sim.log once the broker has acknowledged them all.
(
	child=""
	trap '[[ -n "$child" ]] && kill "$child" 2>/dev/null; exit 0' TERM
	while [[ ! -e "$work/stop" ]]; do
		"$bin" simulate --url "tcp://$MQTT_LISTEN" --machines "$machines" --speed "$speed" --interval 1s >>"$work/sim.log" 2>&1 &
		child=$!
		wait "$child" || exit 1
	done
) &
sim_pid=$!

# scrape prints one CSV row: seconds, then what /metrics says.
scrape() {
	curl -sf "http://$METRICS_LISTEN/metrics" | awk -v t="$1" '
		/^process_resident_memory_bytes / { rss = $2 }
		/^go_goroutines / { g = $2 }
		/^edgeflow_onnx_tensors_live / { tensors = $2 }
		/^edgeflow_onnx_sessions_live / { sessions = $2 }
		/^edgeflow_opencv_mats_live / { mats = $2 }
		/^edgeflow_node_queue_depth\{/ { q += $2; if ($2 > qmax) qmax = $2 }
		/^edgeflow_node_queue_capacity\{/ { qcap += $2; if ($2 > capmax) capmax = $2 }
		/^edgeflow_source_acked_total\{.*node="readings"/ { acked = $2 }
		END { printf "%d,%.0f,%d,%d,%d,%d,%d,%d,%d,%d,%d\n", t, rss, g, tensors, sessions, mats, q, qmax, qcap, capmax, acked }'
}

header=seconds,rss_bytes,goroutines,tensors,sessions,mats,queued,queue_max,queue_capacity,largest_queue_capacity,acked
echo "$header" >"$out"
readings_per_s=$(awk -v m="$machines" -v s="${speed%x}" 'BEGIN { print m * 3 * s }')
echo "soak: ${duration}s, sampling every ${interval}s, warm-up ${warmup}s, $machines machines at $speed ($readings_per_s readings/s) -> $out"
echo "$header"
start=$(date +%s)
while :; do
	sleep "$interval"
	now=$(($(date +%s) - start))
	kill -0 "$edgeflow_pid" 2>/dev/null || { echo "edgeflow died" >&2; exit 1; }
	kill -0 "$sim_pid" 2>/dev/null || { echo "the simulator failed:" >&2; tail -n 5 "$work/sim.log" >&2; exit 1; }
	scrape "$now" >>"$out"
	tail -n 1 "$out"
	((now >= duration)) && break
done

# The simulator finishes its round (3000 simulated seconds at its speed),
# then the pipeline must have acknowledged every reading it published.
touch "$work/stop"
round=$(awk -v s="${speed%x}" 'BEGIN { printf "%d", 3000 / s + 60 }')
for _ in $(seq 1 "$round"); do kill -0 "$sim_pid" 2>/dev/null || break; sleep 1; done
wait "$sim_pid" || { echo "the simulator failed:" >&2; tail -n 5 "$work/sim.log" >&2; exit 1; }
sim_pid=""
sent=$(awk '/^simulate: published/ { n += $3 } END { print n + 0 }' "$work/sim.log")
acked=0
for _ in $(seq 1 60); do
	acked=$(scrape 0 | cut -d, -f11)
	((acked >= sent)) && break
	sleep 1
done
echo "soak: the simulator published $sent readings in $(grep -c '^simulate: published' "$work/sim.log") rounds; the pipeline acknowledged $acked"

# Judge: the samples after the warm-up.
awk -F, -v w="$warmup" -v sent="$sent" -v acked="$acked" '
	NR > 1 && $1 >= w { n++; rss[n] = $2; gor[n] = $3; ten[n] = $4; mat[n] = $6; q[n] = $8; qcap = $10 }
	END {
		if (n < 6) { print "soak: too few samples after the warm-up (" n "); run longer"; exit 1 }
		first = (rss[1] + rss[2] + rss[3]) / 3; last = (rss[n-2] + rss[n-1] + rss[n]) / 3
		growth = 100 * (last - first) / first
		g0 = (gor[1] + gor[2] + gor[3]) / 3; g1 = (gor[n-2] + gor[n-1] + gor[n]) / 3
		for (i = 1; i <= n; i++) {
			if (i <= n / 2) { if (ten[i] > ten0) ten0 = ten[i]; if (mat[i] > mat0) mat0 = mat[i] }
			if (q[i] > qmax) qmax = q[i]
			if (i <= n / 2) { qa += q[i]; na++ } else { qb += q[i]; nb++ }
		}
		qa /= na; qb /= nb
		ten1 = ten[n-2]; if (ten[n-1] < ten1) ten1 = ten[n-1]; if (ten[n] < ten1) ten1 = ten[n]
		mat1 = mat[n-2]; if (mat[n-1] < mat1) mat1 = mat[n-1]; if (mat[n] < mat1) mat1 = mat[n]
		printf "soak: RSS %.1f MB -> %.1f MB after the warm-up (%+.1f%%); goroutines %.0f -> %.0f\n",
			first / 1e6, last / 1e6, growth, g0, g1
		printf "soak: live ONNX tensors at most %d in the first half, %d at the end; OpenCV Mats %d, %d\n", ten0, ten1, mat0, mat1
		printf "soak: largest queue depth %d of %d; mean %.1f in the first half, %.1f in the second\n", qmax, qcap, qa, qb
		bad = 0
		if (growth >= 5) { print "soak: FAIL: resident memory grew by 5% or more"; bad = 1 }
		if (g1 > g0 + 5) { print "soak: FAIL: goroutines grew"; bad = 1 }
		if (ten1 > ten0) { print "soak: FAIL: live ONNX tensors grew"; bad = 1 }
		if (mat1 > mat0) { print "soak: FAIL: live OpenCV Mats grew"; bad = 1 }
		if (qb > qa + qcap / 10) { print "soak: FAIL: the queues grew (not keeping up)"; bad = 1 }
		if (acked < sent) { print "soak: FAIL: " sent - acked " readings published but not acknowledged"; bad = 1 }
		if (bad) exit 1
		print "soak: ok"
	}' "$out"
