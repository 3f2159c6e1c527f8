#!/usr/bin/env bash
# Installs the mosquitto broker that internal/brokertest starts for MQTT tests.
# Idempotent: does nothing when mosquitto is already installed, and runs
# apt-get update only when something must be installed.
set -euo pipefail

have() { command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ]; }

if have mosquitto; then
	exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "setup: installing mosquitto" >&2
$SUDO apt-get update -qq
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends mosquitto
have mosquitto || { echo "setup: mosquitto still missing after install" >&2; exit 1; }
