#!/usr/bin/env bash
# deps.sh - install the Debian packages hgslab needs (`make deps`).
#
# Skips what is installed already (so it is idempotent and quick on a ready
# machine), uses sudo when not root, and fails with a clear message where
# apt-get is missing.  The package list is DESIGN.md's "Dependencies", plus
# clang with its sanitizer and libFuzzer runtimes (libclang-rt-14-dev) and
# llvm (llvm-symbolizer for readable reports) for `make fuzz` (tests/fuzz/).
set -euo pipefail

packages=(
	build-essential pkg-config
	qemu-system-x86 qemu-utils
	swtpm swtpm-tools
	libssl-dev libyaml-dev libtss2-dev tpm2-tools
	cryptsetup-bin libcryptsetup-dev busybox-static cpio kmod e2fsprogs
	libmicrohttpd-dev libcurl4-openssl-dev libjansson-dev libsqlite3-dev sqlite3 libxml2-dev
	libcmocka-dev jq socat libxml2-utils
	clang libclang-rt-14-dev llvm
)

if ! command -v dpkg-query >/dev/null 2>&1 || ! command -v apt-get >/dev/null 2>&1; then
	echo "deps: apt-get/dpkg not found: hgslab installs its dependencies on Debian 12 (or a" >&2
	echo "deps: derivative). Install these packages by hand: ${packages[*]}" >&2
	exit 1
fi

missing=()
for p in "${packages[@]}"; do
	status=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
	[ "$status" = "installed" ] || missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
	echo "deps: all ${#packages[@]} packages are installed"
	exit 0
fi

sudo=()
if [ "$(id -u)" -ne 0 ]; then
	if ! command -v sudo >/dev/null 2>&1; then
		echo "deps: not root and sudo is missing; as root run: apt-get install ${missing[*]}" >&2
		exit 1
	fi
	sudo=(sudo)
fi

echo "deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
if ! "${sudo[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"; then
	echo "deps: install failed; refreshing the package lists and trying once more" >&2
	"${sudo[@]}" apt-get update -q
	if ! "${sudo[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"; then
		echo "deps: apt-get could not install: ${missing[*]}; see the messages above" >&2
		exit 1
	fi
fi
echo "deps: done"
