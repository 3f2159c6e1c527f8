#!/usr/bin/env bash
# The anomaly example end to end, in one command (`make demo` runs it):
#   1. builds bin/edgeflow if it is missing;
#   2. pre-trains the autoencoder on synthetic series (it sees no real
#      sensor: each sensor's own history is handled online by the pipeline's
#      normaliser and likelihoods) and quantises it to int8, if
#      examples/anomaly/model/ does not hold it yet;
#   3. starts `edgeflow run examples/anomaly/pipeline.yaml` (embedded MQTT and
#      NATS brokers unless MQTT_URL / NATS_URL point at real ones) and waits
#      for /readyz;
#   4. publishes three NAB series with known anomalies and two simulated
#      machines with injected faults (`edgeflow simulate`), printing the alerts
#      as they come out of JetStream;
#   5. stops edgeflow with SIGTERM (it drains and acknowledges everything);
#   6. checks that every injected fault raised an alert while its readings
#      were in the window of 16: the script fails when no alert arrived or a
#      fault was missed (`make test` runs it).
#
# Environment: NAB_DATA (default ../shared/data/nab), MQTT_URL, NATS_URL,
# DEMO_SPEED (simulator speed, default max), METRICS_LISTEN, EDGEFLOW_BIN.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root"
bin=${EDGEFLOW_BIN:-bin/edgeflow}
nab=${NAB_DATA:-$root/../shared/data/nab}
speed=${DEMO_SPEED:-max}
model_dir=examples/anomaly/model
export METRICS_LISTEN=${METRICS_LISTEN:-127.0.0.1:19464}
export MQTT_LISTEN=${MQTT_LISTEN:-127.0.0.1:11883}
# The simulator publishes to the broker the pipeline reads from.
if [[ -z "${MQTT_URL:-}" || "${MQTT_URL}" == embedded ]]; then
	sim_url=tcp://$MQTT_LISTEN
else
	sim_url=$MQTT_URL
fi

say() { printf '\033[1m== %s\033[0m\n' "$*"; }

work=$(mktemp -d "${TMPDIR:-/tmp}/edgeflow-anomaly-demo.XXXXXX")
edgeflow_pid="" tail_pid=""
cleanup() {
	local status=$?
	if [[ -n "$edgeflow_pid" ]] && kill -0 "$edgeflow_pid" 2>/dev/null; then
		kill -TERM "$edgeflow_pid" 2>/dev/null || true
		wait "$edgeflow_pid" 2>/dev/null || true
	fi
	if [[ -n "$tail_pid" ]]; then
		kill "$tail_pid" 2>/dev/null || true
		wait "$tail_pid" 2>/dev/null || true
	fi
	if [[ $status -ne 0 && -s "$work/edgeflow.log" ]]; then
		echo "--- edgeflow log (last 20 lines) ---" >&2
		tail -n 20 "$work/edgeflow.log" >&2
	fi
	rm -rf "$work"
	exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [[ ! -x "$bin" ]]; then
	say "building $bin"
	go build -trimpath -o "$bin" ./cmd/edgeflow
fi

if [[ ! -s "$model_dir/anomaly.int8.onnx" ]]; then
	say "pre-training the anomaly autoencoder on synthetic series"
	mkdir -p "$model_dir"
	"$bin" model train anomaly --synthetic 20000 --seed 1 \
		--out "$model_dir/anomaly.onnx.tmp" --int8 "$model_dir/anomaly.int8.onnx.tmp"
	mv "$model_dir/anomaly.onnx.tmp" "$model_dir/anomaly.onnx"
	mv "$model_dir/anomaly.int8.onnx.tmp" "$model_dir/anomaly.int8.onnx"
fi

say "starting edgeflow (MQTT ${MQTT_URL:-embedded on $MQTT_LISTEN}, NATS ${NATS_URL:-embedded})"
: >"$work/alerts.jsonl"
"$bin" run examples/anomaly/pipeline.yaml >"$work/alerts.jsonl" 2>"$work/edgeflow.log" &
edgeflow_pid=$!

# Alerts as JetStream hands them back, one readable line each.
tail -n +1 -f "$work/alerts.jsonl" | sed -u -e 's/^{"alert":"\(.*\)"}$/  ALERT  \1/' &
tail_pid=$!

ready=""
for _ in $(seq 1 150); do
	kill -0 "$edgeflow_pid" 2>/dev/null || { echo "edgeflow exited during start-up" >&2; exit 1; }
	if curl -sf "http://$METRICS_LISTEN/readyz" >/dev/null 2>&1; then ready=1; break; fi
	sleep 0.2
done
[[ -n "$ready" ]] || { echo "edgeflow not ready after 30s" >&2; exit 1; }
say "edgeflow is ready (metrics on http://$METRICS_LISTEN/metrics)"

say "simulating: 3 NAB series with known anomalies + 2 machines with injected faults, speed $speed"
known=$nab/data/realKnownCause
# One reading per second of simulated time: the fault check below relies on it.
"$bin" simulate --url "$sim_url" --speed "$speed" --list-faults --machines 2 --interval 1s \
	--nab "$known/machine_temperature_system_failure.csv" \
	--nab "$known/ambient_temperature_system_failure.csv" \
	--nab "$known/ec2_request_latency_system_failure.csv" | tee "$work/faults.txt"

# Let the last windows through the model, then stop and drain.
sleep 2
say "stopping edgeflow (SIGTERM: drain, then acknowledge)"
kill -TERM "$edgeflow_pid"
status=0
wait "$edgeflow_pid" || status=$?
edgeflow_pid=""
sleep 0.3
alerts=$(grep -c '"alert"' "$work/alerts.jsonl" || true)
if [[ $status -ne 0 ]]; then
	echo "edgeflow exited with status $status" >&2
	exit "$status"
fi
if [[ $alerts -eq 0 ]]; then
	echo "FAIL: no alert arrived" >&2
	exit 1
fi

# Each "fault: SENSOR KIND readings FROM-TO (START)" line must have an alert
# of SENSOR stamped while a faulty reading was in the window: from START to
# 15 readings (seconds) after the last faulty one.
epoch() { date -u -d "$1" +%s; }
faults=0 missed=0
while read -r _ sensor kind _ range start; do
	from=${range%-*} to=${range#*-}
	start=${start#(} start=${start%)}
	first=$(epoch "$start")
	last=$((first + to - from + 15))
	faults=$((faults + 1))
	hit=""
	while read -r at; do
		t=$(epoch "${at}Z")
		if ((t >= first && t <= last)); then hit=1 && break; fi
	done < <(sed -n "s/^{\"alert\":\"$sensor  .*  at \([0-9T:-]*\)\"}$/\1/p" "$work/alerts.jsonl")
	if [[ -z "$hit" ]]; then
		echo "FAIL: injected fault missed: $sensor $kind, readings $range from $start" >&2
		missed=$((missed + 1))
	fi
done < <(grep '^fault:' "$work/faults.txt")
if [[ $faults -eq 0 ]]; then
	echo "FAIL: the simulator listed no injected fault" >&2
	exit 1
fi
if [[ $missed -ne 0 ]]; then
	echo "FAIL: $missed of $faults injected faults raised no alert" >&2
	exit 1
fi
say "every one of the $faults injected faults raised an alert"
say "done: $alerts alerts, stored in JetStream stream ALERTS (plant.alerts.<sensor>) and published on MQTT plant/alerts/summary"
