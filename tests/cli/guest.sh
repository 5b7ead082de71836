#!/usr/bin/env bash
# guest.sh - the shielded VM's guest booted for real: QEMU (TCG, qboot,
# -nodefaults) with a swtpm vTPM, the agent's events read from its
# virtio-serial port and QEMU driven over QMP, both unix sockets.
#
# 1. provisioning boot: an 8 MiB ext4 plain disk holding secret.txt becomes a
#    LUKS2 volume on the VM's disk; the guest reports "provisioned" and powers
#    off by itself; the disk is LUKS2 and `strings` finds no plaintext in it.
# 2. run boot with the same vTPM: "running" with the SHA-256 of secret.txt;
#    QMP system_powerdown (ACPI power button) gives "stopping" and QEMU exits;
#    the disk is unchanged (the volume is opened read-only).
# 3. run boot with a fresh vTPM: "error" at stage unseal with a clear reason,
#    and the guest powers off by itself; then the provisioned vTPM with another
#    VM's LUKS2 disk: "error" at stage open (the unsealed volume key does not
#    match that disk's header).
# 4. the unshielded baseline (hgslab.mode=plain, no vTPM) reports the same hash.
#
# Needs `make guest` done (build/guest); a missing guest is a failure, not a
# skip.  Readiness comes from the processes themselves (swtpm --daemon and
# QEMU -daemonize return once their sockets listen; the QMP greeting), every
# wait is bounded, and the trap stops QEMU, swtpm and socat by their pids.
. "$(dirname "$0")/lib.sh"

G=${GUEST_DIR:-$ROOT/build/guest}
case $G in /*) ;; *) G=$ROOT/$G ;; esac
QBOOT=/usr/share/qemu/qboot.rom
SECRET="tenant secret 42"
BOOT_TIMEOUT=${GUEST_BOOT_TIMEOUT:-120}   # seconds from `cont` to the guest's report, TCG on a busy machine

require_guest "$G"
require qemu-system-x86_64 swtpm socat mke2fs cryptsetup strings sha256sum jq
[ -f "$QBOOT" ] || { echo "Bail out! $QBOOT is needed (qemu-system-x86, make deps)"; exit 1; }

QEMU_PID="" SWTPM_PID="" EV_PID="" EVENT="" EVENTS=()

# pid_alive PID: true while PID runs.
pid_alive() { [ -n "$1" ] && kill -0 "$1" 2>/dev/null; }

# ours PID: PID runs and was started by this test (its command line names $T).
ours() { pid_alive "$1" && grep -qF "$T" "/proc/$1/cmdline" 2>/dev/null; }

# wait_gone PID SECONDS: wait for PID (not our child) to exit; false on timeout.
wait_gone() {
	pid_alive "$1" || return 0
	timeout "$2" tail --pid="$1" -s 0.05 -f /dev/null 2>/dev/null
	! pid_alive "$1"
}

# Stop whatever this test started (the trap runs it too): the socat clients,
# then every QEMU and swtpm by the pid files they wrote, QEMU first.
stop_all() {
	local f p
	for p in "${QMP_PID:-}" "$EV_PID"; do
		[ -n "$p" ] && kill "$p" 2>/dev/null
	done
	{ exec 5<&- 6<&- 7>&-; } 2>/dev/null
	for f in "$T"/*/qemu.pid "$T"/*/swtpm.pid; do
		[ -f "$f" ] || continue
		p=$(cat "$f")
		if ours "$p"; then
			kill -TERM "$p"
			wait_gone "$p" 5 || kill -KILL "$p"
		fi
		rm -f "$f"
	done
	wait 2>/dev/null
	QEMU_PID="" SWTPM_PID="" EV_PID="" QMP_PID=""
}
trap 'stop_all; rm -rf "$T"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

# qmp_send JSON: send one command, read lines until its reply (events skipped).
qmp_send() {
	local line
	echo "$1" >&7 || return 1
	while read -r -t 10 -u 6 line; do
		case $line in *'"return"'* | *'"error"'*) QMP_REPLY=$line; return 0 ;; esac
	done
	return 1
}

# qmp_wait_eof SECONDS: wait until QEMU closes QMP (it exits); false on timeout.
qmp_wait_eof() {
	local line end=$((SECONDS + $1))
	while [ $SECONDS -lt $end ]; do
		read -r -t 1 -u 6 line
		[ $? -eq 1 ] && return 0     # EOF (a timeout is > 128)
	done
	return 1
}

# boot NAME MODE VTPM_DIR DISK_ARGS...: start swtpm on VTPM_DIR (none for
# "-") and a paused QEMU, connect the agent channel and QMP, then `cont`.
# Sets T0 (start time).
boot() {
	local name=$1 mode=$2 vtpm=$3; shift 3
	local d=$T/$name tpm=()
	mkdir -p "$d"
	if [ "$vtpm" != - ]; then
		swtpm socket --tpm2 --tpmstate dir="$vtpm" --ctrl type=unixio,path="$d/swtpm.sock" \
			--pid file="$d/swtpm.pid" --log file="$d/swtpm.log" --daemon || return 1
		SWTPM_PID=$(cat "$d/swtpm.pid")
		tpm=(-chardev socket,id=chrtpm,path="$d/swtpm.sock"
		     -tpmdev emulator,id=tpm0,chardev=chrtpm -device tpm-crb,tpmdev=tpm0)
	fi
	qemu-system-x86_64 -machine pc -cpu max -m 256 -nodefaults -display none -no-reboot \
		-bios "$QBOOT" -kernel "$G/vmlinuz" -initrd "$G/initramfs.cpio" \
		-append "console=ttyS0 quiet mitigations=off panic=-1 hgslab.mode=$mode" \
		-serial file:"$d/console.log" \
		"${tpm[@]}" -device virtio-serial \
		-chardev socket,id=agent,path="$d/agent.sock",server=on,wait=off \
		-device virtserialport,chardev=agent,name=org.hgslab.agent \
		-qmp unix:"$d/qmp.sock",server=on,wait=off \
		"$@" -S -daemonize -pidfile "$d/qemu.pid" 2>"$d/qemu.err" || { cat "$d/qemu.err"; return 1; }
	QEMU_PID=$(cat "$d/qemu.pid")
	# The agent's lines come through a fifo that we open read-write, so the
	# open never blocks; a QEMU that is gone is seen by its pid instead of EOF.
	mkfifo "$d/events.fifo"
	exec 5<>"$d/events.fifo"
	socat -u UNIX-CONNECT:"$d/agent.sock" STDOUT >"$d/events.fifo" 2>"$d/socat.err" &
	EV_PID=$!
	coproc QMP { exec socat - UNIX-CONNECT:"$d/qmp.sock" 2>/dev/null; }
	# Own copies of the coproc's fds: bash closes its own when socat ends.
	exec 6<&"${QMP[0]}" 7>&"${QMP[1]}"
	local greeting
	read -r -t 10 -u 6 greeting && [[ $greeting == *'"QMP"'* ]] || { echo "no QMP greeting"; return 1; }
	qmp_send '{"execute":"qmp_capabilities"}' || return 1
	T0=$EPOCHREALTIME
	qmp_send '{"execute":"cont"}' || return 1
}

# next_event [SECONDS]: read the guest's next event other than "started" into EVENT.
next_event() {
	local line end=$((SECONDS + ${1:-$BOOT_TIMEOUT}))
	EVENT=""
	while [ $SECONDS -lt $end ]; do
		if ! read -r -t 1 -u 5 line; then
			pid_alive "$QEMU_PID" || return 1   # no line, and QEMU is gone
			continue
		fi
		EVENTS+=("$line")
		[ "$(jq -r .event <<<"$line" 2>/dev/null)" = started ] && continue
		EVENT=$line
		return 0
	done
	return 1
}

# elapsed: seconds since T0, two decimals.
elapsed() { awk -v a="$T0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.2f", b - a }'; }

# ended NAME SECONDS: QEMU closed QMP and exited, swtpm followed; then tidy up.
ended() {
	local rc=0
	qmp_wait_eof "$2" || rc=1
	wait_gone "$QEMU_PID" 5 || rc=1
	# swtpm ends when QEMU closes its socket; give it a moment, then stop it.
	wait_gone "$SWTPM_PID" 5 || rc=1
	stop_all
	return $rc
}

# show NAME: the boot's console and events, as TAP comments (on failure).
show() {
	printf '%s\n' "${EVENTS[@]}" | sed 's/^/# event: /'
	sed 's/^/# console: /' "$T/$1/console.log" 2>/dev/null | tail -n 30
}

plan 15

# The tenant's plain disk (ext4 from a directory, no root needed) and the VM's disk.
mkdir -p "$T/files" "$T/vtpm" "$T/fresh-vtpm"
printf '%s' "$SECRET" >"$T/files/secret.txt"
mke2fs -q -t ext4 -d "$T/files" "$T/plain.img" 8M >/dev/null 2>&1
truncate -s 24M "$T/disk.img"
want=$(printf '%s' "$SECRET" | sha256sum | awk '{ print $1 }')
grep -q -a "$SECRET" "$T/plain.img"
ok $? "the plain disk holds the secret in clear (so the checks below mean something)"

PLAIN=(-drive file="$T/plain.img",if=none,id=plain,format=raw,readonly=on
       -device virtio-blk-pci,drive=plain,serial=hgslab-plain)
DISK=(-drive file="$T/disk.img",if=none,id=disk,format=raw
      -device virtio-blk-pci,drive=disk,serial=hgslab-disk)

# 1. Provisioning.
EVENTS=()
if boot provision provision "$T/vtpm" "${PLAIN[@]}" "${DISK[@]}" && next_event; then
	t_prov=$(elapsed)
	[ "$(jq -r .event <<<"$EVENT")" = provisioned ]
	ok $? "provisioning boot reports provisioned"
	echo "# provisioning boot: ${t_prov} s to the report (guest uptime: agent started $(jq -r .uptime_ms <<<"${EVENTS[0]}") ms, provisioned $(jq -r .uptime_ms <<<"$EVENT") ms)"
	ended provision 60
	ok $? "the guest powers off by itself after provisioning (QEMU and swtpm exit)"
else
	ok 1 "provisioning boot reports provisioned"; show provision
	ok 1 "the guest powers off by itself after provisioning (QEMU and swtpm exit)"; stop_all
fi
[ "$(jq -r .event <<<"$EVENT")" = provisioned ] || show provision

cryptsetup isLuks --type luks2 "$T/disk.img"
ok $? "the VM's disk is a LUKS2 volume"
! strings -a "$T/disk.img" | grep -q "$SECRET" && ! grep -q -a "$SECRET" "$T/disk.img"
ok $? "the VM's disk holds no plaintext of the tenant's file"
disk_sum=$(sha256sum <"$T/disk.img")

# 2. Normal start with the same vTPM, stopped with the ACPI power button.
EVENTS=()
if boot run run "$T/vtpm" "${DISK[@]}" && next_event; then
	t_run=$(elapsed)
	got=$(jq -r '.workload.sha256["secret.txt"] // empty' <<<"$EVENT")
	[ "$(jq -r .event <<<"$EVENT")" = running ] && [ "$got" = "$want" ]
	ok $? "run boot reports running with the SHA-256 of secret.txt"
	echo "# run boot: ${t_run} s to the report (guest uptime: agent started $(jq -r .uptime_ms <<<"${EVENTS[0]}") ms, running $(jq -r .uptime_ms <<<"$EVENT") ms)"
	! grep -q -a "$SECRET" <<<"${EVENTS[*]}"
	ok $? "the reports carry the hash, never the content"
	t1=$EPOCHREALTIME
	qmp_send '{"execute":"system_powerdown"}' && next_event 30 &&
		[ "$(jq -r '.event + " " + .why' <<<"$EVENT")" = "stopping power button" ]
	ok $? "system_powerdown (ACPI power button) makes the guest report stopping"
	ended run 30
	ok $? "then QEMU and swtpm exit ($(awk -v a="$t1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.2f", b - a }') s after system_powerdown)"
else
	ok 1 "run boot reports running with the SHA-256 of secret.txt"; show run
	ok 1 "the reports carry the hash, never the content"
	ok 1 "system_powerdown (ACPI power button) makes the guest report stopping"
	ok 1 "then QEMU and swtpm exit"; stop_all
fi
[ "$(sha256sum <"$T/disk.img")" = "$disk_sum" ]
ok $? "the run boot left the VM's disk unchanged (read-only volume)"

# 3. The same disk with a vTPM that was never provisioned.
EVENTS=()
if boot fresh run "$T/fresh-vtpm" "${DISK[@]}" && next_event; then
	echo "# fresh-vTPM boot: $(elapsed) s to the report"
	[ "$(jq -r '.event + " " + .stage' <<<"$EVENT")" = "error unseal" ] &&
		jq -r .reason <<<"$EVENT" | grep -q "the vTPM does not hold it (was this VM provisioned?)"
	ok $? "a fresh vTPM gives an unseal error with a clear reason"
	echo "# reason: $(jq -r .reason <<<"$EVENT")"
	ended fresh 30
	ok $? "the guest powers off by itself after the error"
else
	ok 1 "a fresh vTPM gives an unseal error with a clear reason"; show fresh
	ok 1 "the guest powers off by itself after the error"; stop_all
fi

# 3b. The provisioned vTPM with another VM's LUKS2 disk (made here with a
# random key): the unsealed volume key does not match its header.
head -c 64 /dev/urandom >"$T/other.key"
truncate -s 24M "$T/other.img"
cryptsetup luksFormat -q --type luks2 --pbkdf pbkdf2 --pbkdf-force-iterations 1000 \
	--key-file "$T/other.key" "$T/other.img" >/dev/null 2>&1
rm -f "$T/other.key"
EVENTS=()
if boot other run "$T/vtpm" -drive file="$T/other.img",if=none,id=disk,format=raw \
	-device virtio-blk-pci,drive=disk,serial=hgslab-disk && next_event; then
	[ "$(jq -r '.event + " " + .stage' <<<"$EVENT")" = "error open" ] &&
		jq -r .reason <<<"$EVENT" | grep -q "the key sealed in this vTPM does not open it"
	ok $? "another VM's disk gives an open error with a clear reason"
	echo "# reason: $(jq -r .reason <<<"$EVENT")"
	ended other 30
	ok $? "the guest powers off by itself after the error"
else
	ok 1 "another VM's disk gives an open error with a clear reason"; show other
	ok 1 "the guest powers off by itself after the error"; stop_all
fi

# 4. The unshielded baseline (what make bench compares with): the plain disk, no vTPM.
EVENTS=()
if boot plain plain - "${PLAIN[@]}" && next_event; then
	t_plain=$(elapsed)
	[ "$(jq -r '.event + " " + (.shielded | tostring) + " " + .workload.sha256["secret.txt"]' <<<"$EVENT")" = "running false $want" ]
	ok $? "the unshielded baseline (hgslab.mode=plain) reports the same hash"
	echo "# unshielded boot: ${t_plain} s to the report (guest uptime $(jq -r .uptime_ms <<<"$EVENT") ms); shielded run boot: ${t_run:-?} s"
else
	ok 1 "the unshielded baseline (hgslab.mode=plain) reports the same hash"; show plain
fi
stop_all
