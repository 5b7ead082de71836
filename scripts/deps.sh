#!/usr/bin/env bash
# deps.sh - install the Debian packages hgslab needs (`make deps`).
#
# Skips what is installed already (so it is idempotent and quick on a ready
# machine), uses sudo when not root, and fails with a clear message where
# apt-get is missing.  The package list is DESIGN.md's "Dependencies", plus
# PostgreSQL (server with psql, libpq: the shared HGS store, docs/storage.md), clang with its
# sanitizer and libFuzzer runtimes (libclang-rt-14-dev) and
# llvm (llvm-symbolizer for readable reports) for `make fuzz` (tests/fuzz/), and
# chromium with Node.js for the browser tests: their one npm package,
# puppeteer-core (pinned in tests/browser/package-lock.json, told to download no
# browser), goes into tests/browser/node_modules.
set -euo pipefail

packages=(
	build-essential pkg-config
	qemu-system-x86 qemu-utils
	swtpm swtpm-tools
	libssl-dev libyaml-dev libtss2-dev tpm2-tools
	cryptsetup-bin libcryptsetup-dev busybox-static cpio kmod e2fsprogs
	libmicrohttpd-dev libcurl4-openssl-dev libjansson-dev libsqlite3-dev sqlite3 libxml2-dev
	postgresql libpq-dev
	libcmocka-dev jq socat libxml2-utils
	clang libclang-rt-14-dev llvm
	chromium nodejs
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

# npm comes with some builds of the nodejs package and is a package of its own in Debian's
command -v npm >/dev/null 2>&1 || missing+=(npm)

# the browser tests' npm package (tests/browser/package-lock.json), when not installed yet
browser_tests() {
	local dir stamp
	dir="$(cd "$(dirname "$0")/.." && pwd)/tests/browser"
	stamp=$(sha256sum <"$dir/package-lock.json")
	[ "$(cat "$dir/node_modules/.hgslab-lock" 2>/dev/null)" = "$stamp" ] && return 0
	echo "deps: installing the browser tests' npm packages (puppeteer-core) into tests/browser"
	if ! (cd "$dir" && PUPPETEER_SKIP_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error); then
		echo "deps: npm ci failed in $dir; see the messages above (the npm registry must be reachable)" >&2
		exit 1
	fi
	echo "$stamp" >"$dir/node_modules/.hgslab-lock"
}

if [ ${#missing[@]} -eq 0 ]; then
	echo "deps: all ${#packages[@]} packages are installed"
	browser_tests
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
browser_tests
echo "deps: done"
