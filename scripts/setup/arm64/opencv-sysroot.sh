#!/usr/bin/env bash
# Builds the arm64 sysroot that `make build-gocv-arm64` links against and
# that qemu-aarch64 loads the camera build's libraries from:
# .cache/arm64/sysroot, Debian's arm64 libopencv-dev (OpenCV 4.6, the release
# gocv v0.31.0 matches) and everything it depends on, extracted from the
# .debs.
#
# Why not multiarch (dpkg --add-architecture arm64; apt-get install
# libopencv-dev:arm64)? libopencv-dev is Multi-Arch: no, so the arm64 one
# cannot be installed beside the amd64 one that `make test-gocv` needs. So the
# .debs are resolved and downloaded by apt with its own state under
# .cache/arm64/apt (architecture arm64, an empty dpkg status, Debian's
# sources), and unpacked with dpkg-deb -x: the machine's own dpkg and apt
# lists are not touched. About 250 MB to download, 1 GB unpacked.
#
# Idempotent: does nothing when the sysroot is complete for this script.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
. "$here/../lib.bash"
ROOT="$(cd "$here/../../.." && pwd)"
BASE="$ROOT/.cache/arm64"
SYSROOT="$BASE/sysroot"
APTDIR="$BASE/apt"
PKGS=(libopencv-dev libc6-dev libstdc++-12-dev)
STAMP="$SYSROOT/.edgeflow-sysroot"
want="opencv-sysroot v2: ${PKGS[*]}"

if [[ -f "$STAMP" && "$(cat "$STAMP")" == "$want" ]]; then
	exit 0
fi
have apt-get || { echo "opencv-sysroot.sh: needs apt-get (Debian or Ubuntu) to fetch the arm64 .debs" >&2; exit 1; }
have dpkg-deb || { echo "opencv-sysroot.sh: needs dpkg-deb" >&2; exit 1; }
apt_install debian-archive-keyring pkg-config

# Debian's sources for this release, whatever mirror the machine uses; the
# machine's other repositories (amd64-only vendors) are left out.
codename="$(. /etc/os-release && echo "${VERSION_CODENAME:-bookworm}")"
mkdir -p "$APTDIR"/{lists/partial,archives/partial,sources.list.d,none} "$APTDIR"/dpkg
: >"$APTDIR/dpkg/status"
if [[ -f /etc/apt/sources.list.d/debian.sources ]]; then
	cp /etc/apt/sources.list.d/debian.sources "$APTDIR/sources.list.d/debian.sources"
else
	cat >"$APTDIR/sources.list.d/debian.sources" <<SRC
Types: deb
URIs: http://deb.debian.org/debian
Suites: $codename $codename-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://deb.debian.org/debian-security
Suites: $codename-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
fi
: >"$APTDIR/sources.list"

apt_opts=(
	-o "APT::Architecture=arm64" -o "APT::Architectures::=arm64"
	-o "Dir::State=$APTDIR" -o "Dir::State::Lists=$APTDIR/lists"
	-o "Dir::State::status=$APTDIR/dpkg/status"
	-o "Dir::Cache=$APTDIR" -o "Dir::Cache::Archives=$APTDIR/archives"
	-o "Dir::Etc::SourceList=$APTDIR/sources.list"
	-o "Dir::Etc::SourceParts=$APTDIR/sources.list.d"
	-o "Dir::Etc::Preferences=/dev/null" -o "Dir::Etc::PreferencesParts=$APTDIR/none"
	-o "Debug::NoLocking=1" -o "APT::Install-Recommends=0"
)
echo "opencv-sysroot.sh: resolving and downloading arm64 ${PKGS[*]} (with dependencies)" >&2
apt-get "${apt_opts[@]}" -qq update
apt-get "${apt_opts[@]}" -qq -y --download-only install "${PKGS[@]}" >/dev/null

echo "opencv-sysroot.sh: unpacking $(ls "$APTDIR"/archives/*.deb | wc -l) packages into $SYSROOT" >&2
rm -rf "$SYSROOT.partial"
mkdir -p "$SYSROOT.partial/usr/lib" "$SYSROOT.partial/usr/bin" "$SYSROOT.partial/usr/sbin"
# Debian is merged-/usr: /lib is /usr/lib.
for d in lib bin sbin; do ln -s "usr/$d" "$SYSROOT.partial/$d"; done
for deb in "$APTDIR"/archives/*.deb; do
	# Into a scratch dir, then merged into usr/: GNU tar would replace the
	# lib -> usr/lib link with a directory.
	tmp="$(mktemp -d "$BASE/deb.XXXXXX")"
	dpkg-deb -x "$deb" "$tmp"
	for d in lib bin sbin; do
		if [[ -d "$tmp/$d" && ! -L "$tmp/$d" ]]; then
			mkdir -p "$tmp/usr/$d"
			cp -a "$tmp/$d/." "$tmp/usr/$d/"
			rm -rf "${tmp:?}/$d"
		fi
	done
	cp -a "$tmp/." "$SYSROOT.partial/"
	rm -rf "$tmp"
done
# Absolute symlinks (libfoo.so -> /lib/...) must point inside the sysroot,
# relatively so that the sysroot can move.
find "$SYSROOT.partial" -type l -lname '/*' | while read -r link; do
	target="$(realpath -m --relative-to="$(dirname "$link")" "$SYSROOT.partial$(readlink "$link")")"
	ln -sfn "$target" "$link"
done
# What maintainer scripts would have done: update-alternatives links the
# reference BLAS and LAPACK (libopencv_core needs both) into the library dir.
libdir="$SYSROOT.partial/usr/lib/aarch64-linux-gnu"
for lib in blas/libblas.so.3 lapack/liblapack.so.3; do
	[[ -e "$libdir/$lib" ]] && ln -sfn "$lib" "$libdir/$(basename "$lib")"
done
# The extracted packages are kept in the sysroot; the .debs are not needed.
rm -f "$APTDIR"/archives/*.deb
echo "$want" >"$SYSROOT.partial/.edgeflow-sysroot"
rm -rf "$SYSROOT"
mv "$SYSROOT.partial" "$SYSROOT"
echo "opencv-sysroot.sh: $SYSROOT ready ($(du -sh "$SYSROOT" | cut -f1))" >&2
