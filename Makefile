# edgeflow: `make help` lists the targets.

GO          ?= go
BIN         ?= bin/edgeflow
VERSION     ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS     := -X main.version=$(VERSION)
# Generous: the race detector on a shared 2-core box is slow, and broker
# tests start real mosquitto and nats-server processes.
TEST_TIMEOUT ?= 60m
# go test -json through internal/gotest: prints what go test prints and fails
# on a skipped test that test/skips.allow does not name.
GOTEST      ?= GO=$(GO) $(GO) run ./internal/gotest -allow test/skips.allow --
# A count, not a duration: each fuzz target runs to a million executions
# (issue 18's bar), however busy the machine; FUZZTIME=30s for a quick look.
FUZZTIME    ?= 1000000x
# How long go test spends shrinking each new interesting input (its default,
# 60s, stalls a target whose corpus grows fast, such as FuzzQuantize).
FUZZMINIMIZE ?= 10s
# More go test flags for make fuzz, e.g. FUZZFLAGS=-parallel=2.
FUZZFLAGS   ?=
# Files tests keep (t.ArtifactDir), such as the dashboard's screenshot.
ARTIFACTS   ?= $(CURDIR)/bin/test-artifacts
STATICCHECK ?= honnef.co/go/tools/cmd/staticcheck@v0.8.2

# Packages with OpenCV code behind the gocv build tag.
GOCV_PKGS   ?= ./vision/... ./sources/camera/... ./stages/image/... ./stages/detect/... ./sinks/annotate/... ./examples/camera/... ./examples/face/... ./models/quantize/...

.PHONY: help build build-gocv deps test test-gocv demo bench lint docs fuzz mutate clean chaos soak compose-secrets

help:
	@echo "make build   build $(BIN) (version $(VERSION))"
	@echo "make build-gocv  build $(BIN) with the camera components (OpenCV)"
	@echo "make deps    install what the tests and demo need (scripts/setup/*.sh)"
	@echo "make test    deps, make lint, go test -race (with and without the gocv tag; failing on skips test/skips.allow does not name; artifacts in $(ARTIFACTS)), make demo"
	@echo "make demo    run the anomaly example end to end (examples/anomaly/demo.sh)"
	@echo "make bench   run the benchmarks"
	@echo "make lint    gofmt, go vet, staticcheck"
	@echo "make docs    regenerate docs/components.md and docs/edgeflow.schema.json"
	@echo "make fuzz    run each fuzz target for FUZZTIME ($(FUZZTIME): executions per target)"
	@echo "make mutate  hand-picked mutants of the engine, ack paths, NAB scorer and decoders; report of killed and surviving"
	@echo "make chaos   the full fault matrix against real brokers (test/chaos; report in CHAOS_REPORT)"
	@echo "make soak    the anomaly example at half capacity for SOAK_DURATION; fails on RSS growth >= 5%, growing goroutines, ONNX tensors, OpenCV Mats or queues, lost readings (scripts/soak.sh)"
	@echo "make compose-secrets  random broker passwords for docker-compose.yml in deploy/secrets/"
	@echo "make build-arm64 / build-gocv-arm64  cross-compile $(ARM64_DIR)/edgeflow(-gocv) for linux/arm64"
	@echo "make test-arm64  tests, score checks and the demo on arm64 under qemu (not in make test)"

build:
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/edgeflow

build-gocv: deps
	$(GO) build -trimpath -tags gocv,matprofile -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/edgeflow

deps:
	@scripts/setup/run-all

test: deps
	$(MAKE) --no-print-directory lint
	mkdir -p $(ARTIFACTS)
	$(GOTEST) -race -count=1 -timeout $(TEST_TIMEOUT) -artifacts -outputdir $(ARTIFACTS) ./...
	$(MAKE) --no-print-directory test-gocv
	$(MAKE) --no-print-directory demo

# The main job: sensors over MQTT -> windows -> int8 autoencoder -> alerts
# on NATS JetStream, on embedded brokers. The script trains the model on the
# first time and ends by itself.
demo: deps build
	EDGEFLOW_BIN=$(BIN) examples/anomaly/demo.sh

# Benchmarks of every package that has some, then the programs under test/bench/.
bench:
	@pkgs=$$(grep -rl --include='*_test.go' '^func Benchmark' . | grep -v '^./.cache/' | xargs -r -n1 dirname | sort -u); \
	if [ -n "$$pkgs" ]; then \
		echo "$(GO) test -run='^$$' -bench=. -benchmem $$pkgs"; \
		$(GO) test -run='^$$' -bench=. -benchmem $$pkgs || exit 1; \
	fi; \
	for d in $$(find test/bench -name main.go -exec dirname {} \; 2>/dev/null | sort); do \
		echo "$(GO) run ./$$d"; $(GO) run ./$$d || exit 1; \
	done

# The gocv packages are checked with their tag too (OpenCV from make deps).
lint: deps
	@out=$$(gofmt -l $$(find . -name '*.go' -not -path './.cache/*')); \
	if [ -n "$$out" ]; then echo "gofmt -w needed on:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) vet -tags gocv $(GOCV_PKGS)
	$(GO) run $(STATICCHECK) ./...
	$(GO) run $(STATICCHECK) -tags gocv $(GOCV_PKGS)

docs:
	$(GO) generate ./component/reference/

# go test -fuzz takes one target in one package at a time. A target in a
# file behind the gocv build tag runs with it, and with gocv's matprofile
# (the target checks that no Mat is left open).
fuzz:
	@grep -rn --include='*_test.go' '^func Fuzz' . | grep -v '^./.cache/' | \
	while IFS=: read -r file _ decl; do \
		name=$$(echo "$$decl" | sed -E 's/^func (Fuzz[A-Za-z0-9_]*).*/\1/'); \
		dir=$$(dirname "$$file"); tags=; \
		if head -1 "$$file" | grep -q '^//go:build.*gocv'; then tags=-tags=gocv,matprofile; fi; \
		echo "$(GO) test $$tags -run='^$$' -fuzz='^$$name$$' -fuzztime=$(FUZZTIME) -fuzzminimizetime=$(FUZZMINIMIZE) -timeout=2h $(FUZZFLAGS) $$dir"; \
		$(GO) test $$tags -run='^$$' -fuzz="^$$name\$$" -fuzztime=$(FUZZTIME) -fuzzminimizetime=$(FUZZMINIMIZE) -timeout=2h $(FUZZFLAGS) "$$dir" || exit 1; \
	done

# Not part of make test: minutes long. The report is Markdown (docs/testing.md
# keeps the last one).
mutate:
	$(GO) run ./internal/mutate

# The long fault suite: more messages, every fault twice, brokers SIGKILLed
# too. `go test ./...` runs the short matrix. One JSON line per run in
# CHAOS_REPORT.
CHAOS_REPORT ?= chaos-report.jsonl
chaos: deps
	EDGEFLOW_CHAOS=full CHAOS_REPORT=$(abspath $(CHAOS_REPORT)) \
		$(GO) test -count=1 -v -timeout 60m -run . ./test/chaos
	@cat $(CHAOS_REPORT)

# A steady load for SOAK_DURATION (default 10m); see scripts/soak.sh.
soak: deps build
	EDGEFLOW_BIN=$(BIN) scripts/soak.sh

compose-secrets:
	@for f in mqtt_password nats_password; do \
		[ -s deploy/secrets/$$f ] || { head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' > deploy/secrets/$$f; \
		chmod 0644 deploy/secrets/$$f; echo "wrote deploy/secrets/$$f"; }; \
	done

clean:
	rm -rf bin

# OpenCV (GoCV) code is behind the gocv build tag. This runs it with gocv's
# Mat leak profile (matprofile): the camera source, image and detect stages,
# the annotate sink and the camera example, against real OpenCV, ONNX Runtime
# and media. `make test` runs it too.
test-gocv: deps
	$(GO) vet -tags gocv ./...
	$(GOTEST) -race -count=1 -tags gocv,matprofile -timeout $(TEST_TIMEOUT) $$($(GO) list $(GOCV_PKGS) 2>/dev/null)

# linux/arm64 (Raspberry Pi 4/5, Jetson, i.MX, Rockchip), cross-compiled with
# cgo through Debian's aarch64 toolchain (scripts/arm64/go); the camera build
# links Debian's arm64 OpenCV from a sysroot under .cache/arm64. None of this
# is part of `make deps` or `make test`. docs/deploy.md installs the result.
ARM64_DIR   ?= bin/arm64

.PHONY: deps-arm64 deps-gocv-arm64 build-arm64 build-gocv-arm64 test-arm64

deps-arm64:
	@scripts/setup/arm64/toolchain.sh

deps-gocv-arm64: deps-arm64
	@scripts/setup/arm64/opencv-sysroot.sh

build-arm64: deps-arm64
	scripts/arm64/go build -trimpath -ldflags '$(LDFLAGS)' -o $(ARM64_DIR)/edgeflow ./cmd/edgeflow

build-gocv-arm64: deps-gocv-arm64
	scripts/arm64/go --gocv build -trimpath -tags gocv,matprofile -ldflags '$(LDFLAGS)' -o $(ARM64_DIR)/edgeflow-gocv ./cmd/edgeflow

# Tests, score and detector comparisons with x86-64, and the anomaly demo,
# all under qemu user-mode emulation (test/arm64/run.sh says which; about
# 15 minutes on 2 cores once built).
test-arm64: deps deps-gocv-arm64
	test/arm64/run.sh
