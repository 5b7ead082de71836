#!/usr/bin/env bash
# bundle.sh - hostile VM bundles from the outside (issue #12, hole 1): a
# bundle is outside input, so `host import-vm` and `tenant inspect-vm` read
# it with no symbolic link, device or FIFO followed and with the sizes the
# bundle declares as caps.  A disk.img that links to the KPS private key, a
# vtpm that links to a host TPM's state folder, a disk.img that links to
# /dev/zero, a FIFO, a hard link, a disk larger than its config.json says:
# each is refused at once with a clear message and exit 2, and nothing of it
# is copied into the host (vms/ stays empty).  A staging folder (.import-*)
# is removed when the import is stopped by SIGTERM or SIGHUP, and one left by
# an import killed outright is removed by the next import.
# Runs against $HGSLAB and, when set, $HGSLAB_ASAN (named but not built: a failure).
. "$(dirname "$0")/lib.sh"

require swtpm swtpm_setup jq mkfifo timeout truncate
SECRET="-----BEGIN PRIVATE KEY----- the KPS encryption key of MyHgsService"

# mkbundle DIR [NAME]: a bundle as export-vm makes it (random disk, vTPM state and policy
# statement: import-vm copies a bundle, start-vm checks the statement).
mkbundle() {
	mkdir -p "$1/vtpm"
	head -c 65536 /dev/urandom >"$1/disk.img"
	head -c 4096 /dev/urandom >"$1/vtpm/tpm2-00.permall"
	echo '{}' >"$1/key-protector.kp"
	head -c 256 /dev/urandom | base64 -w0 >"$1/policy.sig"
	printf '{"version":1,"name":"%s","policy":"shielded","kp_id":"0123","disk_size":65536}\n' \
		"${2:-vm1}" >"$1/config.json"
}

# vms_empty HOST: nothing at all in HOST/vms (no VM, no staging folder).
vms_empty() { [ -z "$(ls -A "$1/vms" 2>/dev/null)" ]; }

# refused TAG BIN HOST BUNDLE TEXT: import-vm of BUNDLE exits 2 within 20 s with TEXT, nothing copied.
refused() {
	local tag=$1 bin=$2 host=$3 bundle=$4 text=$5
	run timeout 20 "$bin" host import-vm --dir "$host" --bundle "$bundle"
	ok $([ $RC -eq 2 ] && grep -q "$text" <<<"$ERR" && vms_empty "$host" &&
		! grep -rqaF "$SECRET" "$host" 2>/dev/null; echo $?) \
		"$tag: import-vm refuses $(basename "$bundle"): exit 2, '$text', nothing copied"
	[ $RC -eq 2 ] || sed 's/^/# /' <<<"$ERR" | head -n 3
}

suite() {
	local bin=$1 tag d h pid rc i
	tag=$(basename "$(dirname "$(dirname "$bin")")")
	d="$T/$tag"
	h="$d/host"
	mkdir -p "$d/kps" "$d/b"
	printf '%s\n' "$SECRET" >"$d/kps/encryption.key"

	run "$bin" host new --dir "$h" --name FabricHost1 --domain fabrikam.com
	ok $RC "$tag: host new FabricHost1"
	mkdir -p "$h/vms"

	mkbundle "$d/b/link-disk"
	ln -sf "$d/kps/encryption.key" "$d/b/link-disk/disk.img"
	refused "$tag" "$bin" "$h" "$d/b/link-disk" "symbolic link"
	mkbundle "$d/b/link-vtpm"
	rm -r "$d/b/link-vtpm/vtpm"
	ln -s "$h/tpm" "$d/b/link-vtpm/vtpm"
	refused "$tag" "$bin" "$h" "$d/b/link-vtpm" "symbolic link"
	mkbundle "$d/b/zero"
	ln -sf /dev/zero "$d/b/zero/disk.img"
	refused "$tag" "$bin" "$h" "$d/b/zero" "symbolic link"
	mkbundle "$d/b/fifo"
	rm "$d/b/fifo/disk.img"
	mkfifo "$d/b/fifo/disk.img"
	refused "$tag" "$bin" "$h" "$d/b/fifo" "not a regular file"
	mkbundle "$d/b/hard"
	ln -f "$d/kps/encryption.key" "$d/b/hard/disk.img"
	refused "$tag" "$bin" "$h" "$d/b/hard" "hard link"
	mkbundle "$d/b/big"
	truncate -s 65537 "$d/b/big/disk.img"
	refused "$tag" "$bin" "$h" "$d/b/big" "more than"

	# inspect-vm reads the same way
	run timeout 20 "$bin" tenant inspect-vm --bundle "$d/b/fifo" --search x
	ok $([ $RC -eq 2 ] && grep -q "not a regular file" <<<"$ERR"; echo $?) \
		"$tag: inspect-vm refuses a FIFO disk.img at once (exit 2)"
	run timeout 20 "$bin" tenant inspect-vm --bundle "$d/b/link-disk" --search KPS
	ok $([ $RC -eq 2 ] && grep -q "symbolic link" <<<"$ERR" && ! grep -q FOUND <<<"$OUT"; echo $?) \
		"$tag: inspect-vm does not follow a disk.img that links to a host file (exit 2)"

	# a staging folder left by an import killed outright goes with the next import
	mkdir "$h/vms/.import-vm0.dead01"
	head -c 4096 /dev/urandom >"$h/vms/.import-vm0.dead01/disk.img"
	mkbundle "$d/b/good"
	run "$bin" host import-vm --dir "$h" --bundle "$d/b/good"
	ok $([ $RC -eq 0 ] && [ -f "$h/vms/vm1/disk.img" ] && [ ! -e "$h/vms/.import-vm0.dead01" ]; echo $?) \
		"$tag: a good bundle is imported; the stale staging folder of a killed import is removed"

	# SIGTERM and SIGHUP while an import copies a large disk: its staging folder goes
	for sig in TERM HUP; do
		mkbundle "$d/b/large-$sig" "vm-$sig"
		truncate -s 512M "$d/b/large-$sig/disk.img"
		jq '.disk_size = 536870912' "$d/b/large-$sig/config.json" >"$d/cfg" &&
			mv "$d/cfg" "$d/b/large-$sig/config.json"
		"$bin" host import-vm --dir "$h" --bundle "$d/b/large-$sig" >/dev/null 2>&1 &
		pid=$!
		for i in $(seq 1 2000); do
			compgen -G "$h/vms/.import-*" >/dev/null && break
			sleep 0.005
		done
		kill -"$sig" "$pid"
		wait "$pid" 2>/dev/null
		rc=$?
		ok $([ $rc -ne 0 ] && ! compgen -G "$h/vms/.import-*" >/dev/null &&
			[ ! -e "$h/vms/vm-$sig" ]; echo $?) \
			"$tag: SIG$sig during an import (exit $rc): its staging folder is removed"
	done
}

each_binary suite
done_testing
