#!/usr/bin/env bash
# mkguest.sh - build the shielded VM's guest: kernel + uncompressed initramfs.
#
# Usage: guest/mkguest.sh OUT_DIR AGENT      (`make guest` runs it)
#
# OUT_DIR gets vmlinuz, initramfs.cpio, kernel-version, manifest.txt and
# inputs.sha256.  The kernel is Debian's linux-image-cloud-amd64 (TPM TIS/CRB
# and ext4 built in), fetched with `apt-get download` into $GUEST_CACHE
# (default build/cache) when no kernel .deb is cached there; GUEST_KERNEL_DEB
# names a .deb to use instead.  The initramfs holds the guest agent as /init,
# busybox-static (sh, modprobe), the shared libraries the agent loads (ldd:
# libcryptsetup, tss2, jansson, libcrypto and theirs), and the kernel modules
# the agent loads with their dependencies and a modules.dep made by
# `depmod -b`.
#
# Cached: the inputs (this script, the agent, the .deb, every host file
# copied) are hashed into OUT_DIR/inputs.sha256 and an unchanged hash builds
# nothing.  Reproducible: file order, modes, owners and mtimes are fixed
# (SOURCE_DATE_EPOCH, default 2024-01-01), so the same inputs give the same
# bytes.
set -euo pipefail

# The modules the agent loads (guest/agent.c load_modules); dependencies
# such as virtio, virtio_ring, virtio_pci_{legacy,modern}_dev and dm-mod come
# from modules.dep.
MODULES="virtio_pci virtio_blk virtio_console dm_crypt xts ecb button evdev aesni_intel"
KERNEL_META=linux-image-cloud-amd64

die() { echo "mkguest: $*" >&2; exit 1; }

[ $# -eq 2 ] || die "usage: guest/mkguest.sh OUT_DIR AGENT"
out=$1
agent=$2
cache=${GUEST_CACHE:-build/cache}
epoch=${SOURCE_DATE_EPOCH:-1704067200}
self=$(readlink -f "$0")
[ -x "$agent" ] || die "no agent binary at '$agent' (build it with: make guest)"

for tool in dpkg-deb apt-get apt-cache depmod modprobe cpio sha256sum ldd; do
	command -v "$tool" >/dev/null || die "'$tool' is missing: run make deps"
done
busybox=$(command -v busybox || true)
[ -n "$busybox" ] || die "busybox is missing: install busybox-static (make deps)"
if ldd "$busybox" >/dev/null 2>&1; then
	die "$busybox is dynamically linked: install busybox-static (make deps)"
fi

# --- the kernel .deb: cached, else fetched with apt-get download ---------------
mkdir -p "$cache" "$out"
cache=$(cd "$cache" && pwd)
shown=$out
out=$(cd "$out" && pwd)

# Print the cached kernel .deb with the highest version, if any.
cached_deb() {
	local f
	for f in "$cache"/linux-image-[0-9]*-cloud-amd64_*_amd64.deb; do
		if [ -f "$f" ]; then printf '%s\n' "$f"; fi
	done | sort -V | tail -n 1
}

# Download the kernel package the meta-package points to into the cache.
fetch_kernel() {
	local pkg tmp apt_opts=()
	pkg=$(apt-cache depends "$KERNEL_META" 2>/dev/null | awk '/Depends: linux-image-[0-9]/ { print $2; exit }')
	if [ -z "$pkg" ] && [ "$(id -u)" -eq 0 ]; then
		echo "mkguest: $KERNEL_META not in the package lists; running apt-get update" >&2
		apt-get update -q >&2 || true
		pkg=$(apt-cache depends "$KERNEL_META" 2>/dev/null | awk '/Depends: linux-image-[0-9]/ { print $2; exit }')
	fi
	[ -n "$pkg" ] || die "apt knows no $KERNEL_META: run apt-get update (as root), or set GUEST_KERNEL_DEB"
	[ "$(id -u)" -eq 0 ] && apt_opts=(-o APT::Sandbox::User=root)
	tmp=$(mktemp -d "$cache/.fetch.XXXXXX")
	echo "mkguest: fetching $pkg with apt-get download" >&2
	if ! (cd "$tmp" && apt-get download -q "${apt_opts[@]}" "$pkg" >&2); then
		rm -rf "$tmp"
		die "apt-get download $pkg failed (network? run apt-get update)"
	fi
	mv "$tmp"/*.deb "$cache"/
	rm -rf "$tmp"
}

deb=${GUEST_KERNEL_DEB:-}
if [ -z "$deb" ]; then
	deb=$(cached_deb)
	if [ -z "$deb" ]; then
		fetch_kernel
		deb=$(cached_deb)
	fi
fi
[ -f "$deb" ] || die "no kernel .deb at '$deb'"

# --- what goes in: host files, with their place in the initramfs ------------
# Lines "DEST SOURCE": binaries, then every library they load.
declare -A place=()
place[/sbin/hgslab-agent]=$(readlink -f "$agent")
place[/bin/busybox]=$(readlink -f "$busybox")
while read -r dest src; do
	place[$dest]=$(readlink -f "$src")
done < <(ldd "$agent" | awk '$2 == "=>" && $3 ~ /^\// { print $3, $3 } $1 ~ /^\// { print $1, $1 }')
mapfile -t dests < <(printf '%s\n' "${!place[@]}" | LC_ALL=C sort)

inputs=$( {
	echo "mkguest 2 epoch=$epoch modules=$MODULES"
	sha256sum "$self" "$deb" | awk '{ print $1 }'
	for d in "${dests[@]}"; do
		printf '%s %s\n' "$d" "$(sha256sum < "${place[$d]}" | awk '{ print $1 }')"
	done
} | sha256sum | awk '{ print $1 }')

if [ -f "$out/inputs.sha256" ] && [ "$(cat "$out/inputs.sha256")" = "$inputs" ] &&
   [ -f "$out/vmlinuz" ] && [ -f "$out/initramfs.cpio" ]; then
	echo "mkguest: $shown is up to date"
	exit 0
fi

# --- build -----------------------------------------------------------------------
echo "mkguest: building $shown from $(basename "$deb")"
rm -f "$out/inputs.sha256"
work=$(mktemp -d "$out/.work.XXXXXX")
trap 'rm -rf "$work"' EXIT
dpkg-deb -x "$deb" "$work/kernel"
kver=$(ls "$work/kernel/lib/modules")
[ -f "$work/kernel/boot/vmlinuz-$kver" ] || die "$(basename "$deb") has no boot/vmlinuz-$kver"
depmod -b "$work/kernel" "$kver"

root=$work/root
mdir=lib/modules/$kver
mkdir -p "$root"/{bin,sbin,dev,proc,sys,run,mnt/tenant,lib64,etc,"$mdir"}
for m in $MODULES; do
	modprobe -d "$work/kernel" -S "$kver" --show-depends "$m" ||
		die "kernel $kver has no module '$m'"
done | awk '$1 == "insmod" { print $2 }' | LC_ALL=C sort -u | while read -r ko; do
	rel=${ko#"$work/kernel/$mdir/"}
	install -D -m 0644 "$ko" "$root/$mdir/$rel"
done
for f in modules.order modules.builtin modules.builtin.modinfo; do
	install -m 0644 "$work/kernel/$mdir/$f" "$root/$mdir/$f"
done
depmod -b "$root" "$kver"

for d in "${dests[@]}"; do
	mode=0644
	case $d in /sbin/* | /bin/* | */ld-linux*) mode=0755 ;; esac
	install -D -m "$mode" "${place[$d]}" "$root$d"
done
ln -s sbin/hgslab-agent "$root/init"
ln -s busybox "$root/bin/sh"
ln -s ../bin/busybox "$root/sbin/modprobe"

# Fixed modes, owners (cpio -R 0:0), mtimes and order: the same bytes every time.
find "$root" -type d -exec chmod 0755 {} +
find "$root" -exec touch -h -d "@$epoch" {} +
(cd "$root" && find . -mindepth 1 -printf '%P\n' | LC_ALL=C sort |
	cpio -o -H newc --reproducible -R 0:0 --quiet) > "$work/initramfs.cpio"

install -m 0644 "$work/kernel/boot/vmlinuz-$kver" "$work/vmlinuz"
echo "$kver" > "$work/kernel-version"
{
	echo "kernel $kver from $(basename "$deb")"
	echo "initramfs $(stat -c %s "$work/initramfs.cpio") bytes, uncompressed"
	(cd "$root" && find . -mindepth 1 -type f -printf '%P %s\n' | LC_ALL=C sort)
} > "$work/manifest.txt"
for f in vmlinuz initramfs.cpio kernel-version manifest.txt; do
	mv -f "$work/$f" "$out/$f"
done
echo "$inputs" > "$out/inputs.sha256"
echo "mkguest: kernel $kver, initramfs $(( $(stat -c %s "$out/initramfs.cpio") / 1024 )) KiB in $shown"
