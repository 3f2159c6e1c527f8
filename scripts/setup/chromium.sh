#!/usr/bin/env bash
# Installs Debian's headless-capable chromium, which the admin dashboard's
# browser test (internal/admin, github.com/chromedp/chromedp) drives.
# Idempotent: nothing happens when chromium is already installed.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.bash"

if have chromium; then
	exit 0
fi
apt_install chromium
have chromium || { echo "setup: chromium still missing after install" >&2; exit 1; }
