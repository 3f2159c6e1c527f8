#!/usr/bin/env bash
# Installs the nats-server that internal/brokertest starts for NATS and
# JetStream tests. Idempotent: does nothing when nats-server is already
# installed, and runs apt-get update only when something must be installed.
set -euo pipefail

have() { command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ]; }

if have nats-server; then
	exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "setup: installing nats-server" >&2
$SUDO apt-get update -qq
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nats-server
have nats-server || { echo "setup: nats-server still missing after install" >&2; exit 1; }
