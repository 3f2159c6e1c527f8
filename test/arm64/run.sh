#!/usr/bin/env bash
# `make test-arm64`: edgeflow's linux/arm64 build, cross-compiled here and run
# under qemu user-mode emulation (scripts/arm64/run) against the arm64 ONNX
# Runtime of the same onnxruntime-node release. Brokers (mosquitto,
# nats-server) stay native x86-64 processes on loopback. Steps:
#
#   1. unit/integration tests: a subset of packages (ARM64_PKGS, default
#      below), each built
#      with `go test -c` for arm64 and run under qemu (no -race: the race
#      detector does not run under qemu-user);
#   2. anomaly scores: test/arm64/scores.yaml on the int8 autoencoder (trained
#      natively) over NAB's realKnownCause series, x86-64 vs arm64 under each
#      emulated CPU in ARM64_CPUS, compared by test/arm64/scorediff; loading
#      the model on arm64 runs its int8 kernel check (models/kernelcheck.go);
#   3. int8 detector agreement: `model compare` of NanoDet fp32 vs its int8
#      release on the three shared images, x86-64 vs arm64: the same fp32
#      detections, and int8's agreement with them within 0.1 of x86-64's;
#   4. the anomaly demo (examples/anomaly/demo.sh, which checks that every
#      injected fault raised an alert) with the arm64 binary: the same alerts
#      on the simulated machines as the x86-64 binary, none it did not raise.
#
# Environment: ARM64_PKGS, ARM64_CPUS (qemu -cpu models, default
# "max cortex-a72": a recent core with the dot-product instructions, and the
# Raspberry Pi 4's core without them), ARM64_SKIP (steps to skip, e.g.
# "demo detect"), SHARED (default ../shared). Ends with
# "N passed, N failed".
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
shared="$(cd "${SHARED:-$root/../shared}" && pwd)"
out="$root/bin/arm64/test"
# PKG or PKG:FLAGS (flags for the test binary, no spaces). models' load,
# hot-swap and concurrency tests take minutes each under qemu: the
# default runs its correctness tests (real detectors included).
default_pkgs="codec internal/expression pipeline stages/window stages/anomaly stages/onnx anomaly
	models:-test.run=^Test(Detectors|FitInputs|InspectMLP|BatchedEqualsUnbatched|ShapeErrors|SHA256|OptionsRejected|RuntimeNotFound|KernelCheck.*|CheckSamplesRoundTrip|ParseCPUInfo)$
	connections/mqtt sources/mqtt sinks/nats examples/anomaly"
pkgs=(${ARM64_PKGS:-$default_pkgs})
cpus=(${ARM64_CPUS:-max cortex-a72})
skip=" ${ARM64_SKIP:-} "
mkdir -p "$out"

passed=0 failed=0 failures=()
say() { printf '\033[1m== %s\033[0m\n' "$*"; }
result() { # result NAME STATUS
	if [[ "$2" == 0 ]]; then
		passed=$((passed + 1))
		echo "ok   $1"
	else
		failed=$((failed + 1))
		failures+=("$1")
		echo "FAIL $1"
	fi
}
elapsed() { echo "$((SECONDS - $1))s"; }

say "building: edgeflow for x86-64 and arm64 (with and without OpenCV)"
go build -trimpath -o "$out/edgeflow-amd64" ./cmd/edgeflow
go build -trimpath -tags gocv -o "$out/edgeflow-gocv-amd64" ./cmd/edgeflow
scripts/arm64/go build -trimpath -o "$out/edgeflow" ./cmd/edgeflow
scripts/arm64/go --gocv build -trimpath -tags gocv -o "$out/edgeflow-gocv" ./cmd/edgeflow
# The arm64 build as a command that scripts can run like a native one (the
# demo's EDGEFLOW_BIN, test/arm64/rss.sh).
wrapper="$out/edgeflow-qemu"
printf '#!/bin/sh\nexec "%s" "%s" "$@"\n' "$root/scripts/arm64/run" "$out/edgeflow" >"$wrapper"
chmod +x "$wrapper"

if [[ "$skip" != *" unit "* ]]; then
	say "1. tests under emulation: ${pkgs[*]}"
	for spec in "${pkgs[@]}"; do
		p="${spec%%:*}" flags=()
		[[ "$spec" == *:* ]] && flags=("${spec#*:}")
		name="${p//\//_}"
		rm -f "$out/$name.test"
		if ! scripts/arm64/go test -c -trimpath -o "$out/$name.test" "./$p"; then
			result "test $p (does not build for arm64)" 1
			continue
		fi
		if [[ ! -x "$out/$name.test" ]]; then
			echo "---- $p: no test files"
			continue
		fi
		start=$SECONDS
		st=0
		# go test runs a package's tests in its directory.
		(cd "$p" && "$root/scripts/arm64/run" "$out/$name.test" -test.v -test.count=1 -test.timeout=15m "${flags[@]}" \
			>"$out/$name.log" 2>&1) || st=$?
		[[ $st == 0 ]] || tail -n 30 "$out/$name.log"
		counts="$(grep -c '^--- PASS' "$out/$name.log" || true) passed, $(grep -c '^--- SKIP' "$out/$name.log" || true) skipped"
		grep -A1 '^--- SKIP' "$out/$name.log" | grep -v '^--' | sed 's/^ */    skip: /' || true
		result "test $p ($counts, $(elapsed "$start"))" "$st"
	done
fi

if [[ "$skip" != *" scores "* ]]; then
	say "2. int8 anomaly scores, x86-64 vs arm64"
	# Trained and quantised natively each time (seconds): the quantiser
	# stores the int8 kernel check's samples in the model, and every load
	# (here: the onnx stage's, on arm64) checks ORT's int8 kernels against
	# an unfused reference on them and refuses the model when they differ.
	model="$out/anomaly.int8.onnx"
	args=()
	for f in "$shared"/data/nab/data/*/*.csv; do args+=(--csv "$f"); done
	"$out/edgeflow-amd64" model train anomaly "${args[@]}" --normal 0.15 --seed 1 \
		--out "$out/anomaly.onnx" --int8 "$model" 2>&1 | tail -n 1
	export SCORES_DATA="$shared/data/nab/data/realKnownCause/*.csv" SCORES_MODEL="$model"
	rm -f "$out"/scores-*.jsonl
	SCORES_OUT="$out/scores-amd64.jsonl" "$out/edgeflow-amd64" run test/arm64/scores.yaml 2>"$out/scores-amd64.log"
	for cpu in "${cpus[@]}"; do
		start=$SECONDS
		st=0
		QEMU_CPU="$cpu" SCORES_OUT="$out/scores-$cpu.jsonl" scripts/arm64/run "$out/edgeflow" --log-level debug \
			run test/arm64/scores.yaml 2>"$out/scores-$cpu.log" || st=$?
		[[ $st == 0 ]] || tail -n 5 "$out/scores-$cpu.log"
		grep -i 'kernel' "$out/scores-$cpu.log" | head -n 2 | sed "s/^/  $cpu: /"
		[[ $st == 0 ]] && { go run ./test/arm64/scorediff -tol 1e-3 -error-tol 1e-3 -threshold 0.3 "$out/scores-amd64.jsonl" "$out/scores-$cpu.jsonl" || st=$?; }
		result "anomaly scores, arm64 cpu $cpu vs x86-64 ($(elapsed "$start"))" "$st"
	done
	unset SCORES_DATA SCORES_MODEL
fi

if [[ "$skip" != *" detect "* ]]; then
	say "3. int8 detector agreement (NanoDet fp32 vs int8 on the shared images), x86-64 vs arm64"
	models="$shared/models"
	cmp=(model compare "$models/nanodet_m_416.onnx" "$models/nanodet_m_416_int8.onnx"
		--data "$shared/media" --detector nanodet --repeat 1 --threads 1 --json)
	# num FILE KEY [N]: the N-th (default 1st) number named KEY in the JSON.
	num() { grep -o "\"$2\": *[-0-9.e+]*" "$1" | sed -n "${3:-1}p" | sed 's/.*: *//'; }
	summary() { echo "fp32 $(num "$1" detections 1) detections, int8 $(num "$1" detections 2), matched $(num "$1" matched), agreement $(num "$1" agreement)"; }
	"$out/edgeflow-gocv-amd64" "${cmp[@]}" >"$out/detect-amd64.json" 2>"$out/detect-amd64.log"
	echo "  x86-64: $(summary "$out/detect-amd64.json")"
	for cpu in "${cpus[@]}"; do
		start=$SECONDS
		st=0
		QEMU_CPU="$cpu" scripts/arm64/run "$out/edgeflow-gocv" "${cmp[@]}" >"$out/detect-$cpu.json" 2>"$out/detect-$cpu.log" || st=$?
		if [[ $st == 0 ]]; then
			echo "  $cpu: $(summary "$out/detect-$cpu.json")"
			# ARM's int8 kernels differ from x86's: the int8 model may find
			# a box more or less, but the fp32 model must find the same ones
			# and int8 must agree with it as well as on x86-64 (within 0.1).
			[[ "$(num "$out/detect-amd64.json" detections 1)" == "$(num "$out/detect-$cpu.json" detections 1)" ]] || st=1
			awk -v a="$(num "$out/detect-amd64.json" agreement)" -v b="$(num "$out/detect-$cpu.json" agreement)" \
				'BEGIN { d = a - b; if (d < 0) d = -d; exit !(d <= 0.1) }' || st=1
		fi
		result "detector agreement, arm64 cpu $cpu vs x86-64 ($(elapsed "$start"))" "$st"
	done
fi

if [[ "$skip" != *" demo "* ]]; then
	say "4. the anomaly demo with the arm64 binary"
	# The alerts: sensor and the reading time they were raised at.
	alerts() { sed -n -E 's/^  ALERT +([^ ]+) .* at ([0-9T:-]+)$/\1 \2/p' "$1" | sort; }
	start=$SECONDS
	st=0
	EDGEFLOW_BIN="$out/edgeflow-amd64" NAB_DATA="$shared/data/nab" examples/anomaly/demo.sh >"$out/demo-amd64.txt" 2>&1 || st=$?
	[[ $st == 0 ]] || tail -n 20 "$out/demo-amd64.txt"
	st2=0
	EDGEFLOW_BIN="$wrapper" NAB_DATA="$shared/data/nab" examples/anomaly/demo.sh >"$out/demo-arm64.txt" 2>&1 || st2=$?
	[[ $st2 == 0 ]] || tail -n 20 "$out/demo-arm64.txt"
	if [[ $st == 0 && $st2 == 0 ]]; then
		# demo.sh itself fails unless every injected fault raised an alert.
		grep -h 'injected faults raised' "$out/demo-arm64.txt" | sed -e 's/\x1b\[[0-9;]*m//g' -e 's/^== /  arm64: /'
		echo "  x86-64: $(alerts "$out/demo-amd64.txt" | wc -l) alerts; arm64: $(alerts "$out/demo-arm64.txt" | wc -l) alerts"
		# The demo stops edgeflow 2 s after the simulator's last reading:
		# under emulation it may not have scored the NAB series' tails yet,
		# so arm64 may raise fewer alerts there, but none that x86-64 did
		# not, and the same on the simulated machines.
		extra=$(comm -13 <(alerts "$out/demo-amd64.txt") <(alerts "$out/demo-arm64.txt"))
		[[ -z "$extra" ]] || { echo "  alerts on arm64 only:"; echo "$extra" | sed 's/^/    /'; st=1; }
		diff <(alerts "$out/demo-amd64.txt" | grep '^machine-') <(alerts "$out/demo-arm64.txt" | grep '^machine-') || st=1
		missing=$(comm -23 <(alerts "$out/demo-amd64.txt") <(alerts "$out/demo-arm64.txt") | wc -l)
		((missing == 0)) || echo "  $missing alerts of x86-64 not (yet) raised on arm64 when the demo stopped it (NAB series' tails)"
	else
		st=1
	fi
	result "anomaly demo, arm64 vs x86-64 alerts ($(elapsed "$start"))" "$st"
fi

echo
((failed == 0)) || echo "failed: ${failures[*]}"
echo "$passed passed, $failed failed"
((failed == 0))
