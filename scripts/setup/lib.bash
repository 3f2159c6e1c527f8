# Helpers for scripts/setup/*.sh; source it with
#   . "$(dirname "${BASH_SOURCE[0]}")/lib.bash"
# It is not itself a setup script (no .sh), so run-all does not run it.

# have CMD: is the command installed (also looking in sbin, which is not on
# every user's PATH)?
have() { command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ] || [ -x "/sbin/$1" ]; }

# apt_install PKG...: installs the Debian packages that are missing, quietly.
# Nothing happens when all are installed; otherwise `apt-get update` runs
# first, once per `make deps` (run-all shares a stamp through
# EDGEFLOW_SETUP_STATE).
apt_install() {
	local missing=() p
	for p in "$@"; do
		if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
			missing+=("$p")
		fi
	done
	((${#missing[@]} == 0)) && return 0
	local sudo=""
	[ "$(id -u)" -ne 0 ] && sudo="sudo"
	local stamp="${EDGEFLOW_SETUP_STATE:-}/apt-updated"
	if [ -z "${EDGEFLOW_SETUP_STATE:-}" ] || [ ! -e "$stamp" ]; then
		echo "setup: apt-get update" >&2
		$sudo apt-get update -qq
		[ -n "${EDGEFLOW_SETUP_STATE:-}" ] && touch "$stamp"
	fi
	echo "setup: installing ${missing[*]}" >&2
	$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# npm_fetch PKG@VERSION DEST: downloads the npm package's tarball with
# `npm pack` (no install scripts run) and unpacks it into DEST (usually under
# .cache/), unless DEST already holds that version.
npm_fetch() {
	local spec="$1" dest="$2"
	if [ -f "$dest/.edgeflow-npm" ] && [ "$(cat "$dest/.edgeflow-npm")" = "$spec" ]; then
		return 0
	fi
	have npm || apt_install npm
	local tmp
	tmp="$(mktemp -d)"
	echo "setup: fetching $spec" >&2
	local tarball
	tarball="$(cd "$tmp" && npm pack --silent "$spec" | tail -n1)"
	rm -rf "$dest"
	mkdir -p "$dest"
	tar -xzf "$tmp/$tarball" -C "$dest" --strip-components=1
	rm -rf "$tmp"
	echo "$spec" >"$dest/.edgeflow-npm"
}
