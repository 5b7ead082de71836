#!/usr/bin/env bash
# provision.sh - a new shielded VM from a signed template and shielding data
# on a guarded host (Initialize-ShieldedVM, docs/shielded-vm.md "Provisioning
# from a template"), end to end with real processes: the TPM-mode lab of
# tests/cli/lab.sh (HGS MyHgsService serving attestation and KPS, a Passed
# host FabricHost1, a debug host FabricHost2), a tenant with guardian Owner
# and the imported MyHgsService guardian, template signers Contoso and
# Mallory, a generalized template (etc/hostname = @ComputerName@) protected
# by Contoso, its volume ID qualifier, a .pdk for Owner + MyHgsService whose
# answer file holds a secret, and a .fsk with @ComputerName@=Web01.
#
# Proves: new-shielded-vm on FabricHost1 provisions web01 (KPS releases the
# .pdk's TK, the guest verifies the template and specializes it) and
# get-provisioning-status says Completed; the secret is in no command line
# or environment of the run's processes; start-vm runs it with the same KP
# and the guest reports computer name Web01 from the volume's /etc/hostname
# (whose SHA-256 and the answer file's are in its workload), and stop-vm
# powers it off; its .pdk is its signed policy (policy.sig), so with
# config.json edited to encryption-supported start-vm and connect-vm are
# refused (exit 4); imported on the debug host, start-vm is refused like any
# shielded VM's; --start provisions and starts web02 (no .fsk) in one boot:
# its VM keeper runs the specialize boot and the guest goes on into run mode
# (state Running, keeper.pid held, no QMP socket or console, the TK in no
# memory of the keeper), stop-vm powers it off and a start-vm after it
# unseals the key (swtpm wrote the vTPM state through the renamed folder);
# SIGTERM to new-shielded-vm --start mid-boot leaves nothing but Failed.
# Refusals, each with the documented exit and reason, no new VM, no staging
# folder and no process left: the template altered after signing (the
# host's check, exit 4), the swapped-template attack (a QEMU wrapper swaps
# the file after the host's check: the guest refuses at stage template,
# exit 4, before the secrets key is sent), a version rule not met, a signer
# the .pdk does not trust, a .pdk that lists only another guardian (KPS:
# GuardianNotListed), the debug host (InsecureHostConfiguration /
# DebugMode), and a truncated .pdk (exit 2).  The secret is in no file of
# the lab (HGS, hosts, tenant: the .pdk holds it encrypted), the TK in no
# file; no process is left.
#
# Boots: three provisioning (~7-10 s each under TCG; web02's goes on
# running), three starts, one provisioning refused by the guest, one cut
# short by SIGTERM.  Needs `make guest`.
. "$(dirname "$0")/lib.sh"

. "$(dirname "$0")/lab.sh"

: "${HGSLAB_GUEST_DIR:=$ROOT/build/guest}"
export HGSLAB_GUEST_DIR
SECRET="AdminPassword=Pr0v1sion-S3cret-$$"

require swtpm swtpm_setup qemu-system-x86_64 mke2fs jq sha256sum openssl xxd od
require_guest "$HGSLAB_GUEST_DIR"
MEMSCAN="$ROOT/build/release/tests/helper_memscan"
[ -x "$MEMSCAN" ] || { echo "Bail out! $MEMSCAN is not built: make"; exit 1; }

trap 'stop_keepers; cleanup; rm -rf "$T"' EXIT

# vms_of HOSTDIR: the entries of its vms/ folder (dot files included), one a line.
vms_of() { ls -A "$1/vms" 2>/dev/null; }

# refused HOSTDIR VM: VM is not on the host and no staging folder is left (only status files).
refused() {
	[ ! -e "$1/vms/$2" ] && [ -z "$(vms_of "$1" | grep '^\.provision-' | grep -v '\.json$')" ]
}

plan 45

# ---- the lab (tests/cli/lab.sh) and the tenant's files ----
lab_tpm "$HGSLAB" "$T/lab"
TEN="$W/tenant" SRC="$T/src" SECRETS="$T/secrets"
lab_tenant "$TEN" "$W/unused.kp"
mark "lab ready"

mkdir -p "$SRC/etc" "$SECRETS"
printf '@ComputerName@\n' >"$SRC/etc/hostname"
printf 'web content\n' >"$SRC/index.html"
# the tenant's plaintext answer file lives outside the lab; the lab only ever sees the .pdk
printf '%s\nComputerName=@ComputerName@\n' "$SECRET" >"$SECRETS/unattend.txt"
"$B" tenant new-template-signer --dir "$TEN" --name Contoso >/dev/null &&
	"$B" tenant new-template-signer --dir "$TEN" --name Mallory >/dev/null &&
	"$B" tenant new-template-disk --out "$W/ws2016.tdisk" --files "$SRC" >/dev/null &&
	"$B" tenant protect-template-disk --disk "$W/ws2016.tdisk" --name WindowsServer2016 \
		--version 1.0.0.0 --dir "$TEN" --signer Contoso >/dev/null &&
	"$B" tenant new-volume-id-qualifier --disk "$W/ws2016.tdisk" \
		--version-rule greater-than-or-equals --out "$W/ws2016.viq" >/dev/null &&
	"$B" tenant new-shielding-data-file --dir "$TEN" --owner Owner --guardian MyHgsService \
		--volume-id-qualifier "$W/ws2016.viq" --answer-file "$SECRETS/unattend.txt" \
		--policy shielded --out "$W/web.pdk" >/dev/null &&
	"$B" tenant new-specialization-data-file --value "@ComputerName@=Web01" \
		--out "$W/web01.fsk" >/dev/null
ok $? "tenant: signers Contoso and Mallory, template WindowsServer2016 1.0.0.0 signed by Contoso, its qualifier (>=), web.pdk for Owner + MyHgsService with the answer file, web01.fsk"
# the .pdk's TK, opened with the owner's key (openssl): looked for in files below
TK=$(jq -r .body "$W/web.pdk" | base64 -d | jq -r .key_protector | base64 -d >"$T/web.kp" &&
	kp_open "$T/web.kp" 0 "$TEN/guardians/Owner/encryption.key")
ok $([ ${#TK} -eq 64 ]; echo $?) "the .pdk's key protector opens with the owner's key (its TK read for the scans)"

# ---- FabricHost1: provisioned, the secret in no process, started, stopped ----
t0=$(date +%s.%N)
"$B" host new-shielded-vm --dir "$H1" --name web01 --template "$W/ws2016.tdisk" --pdk "$W/web.pdk" \
	--fsk "$W/web01.fsk" --json >"$T/p1.out" 2>"$T/p1.err" </dev/null &
PPID1=$!
qpid=""
for _ in $(seq 1 600); do
	qpid=$(pgrep -f "qemu-system-x86_64.*$H1/vms/.provision-" | head -n1)
	[ -n "$qpid" ] && break
	sleep 0.05
done
mapfile -t PIDS < <(echo "$PPID1"; pgrep -f "$H1/vms/.provision-")
hexsecret=$(printf %s "$SECRET" | xxd -p | tr -d '\n')
scan_procs "$hexsecret" ${PIDS[@]+"${PIDS[@]}"}
r1=$?
scan_procs "$TK" ${PIDS[@]+"${PIDS[@]}"}
ok $((r1 + $? + (SCANNED < 3))) \
	"during the run the secret and the TK are in no command line or environment of its $SCANNED processes (new-shielded-vm, swtpm, QEMU)"
wait "$PPID1"
rc=$?
t_prov=$(since "$t0")
OUT=$(cat "$T/p1.out")
ok $([ $rc -eq 0 ] && [ "$(jq -r .ComputerName <<<"$OUT")" = Web01 ] &&
	[ "$(jq -r .Template <<<"$OUT")" = "WindowsServer2016 1.0.0.0" ] &&
	[ "$(jq -r .Policy <<<"$OUT")" = shielded ]; echo $?) \
	"new-shielded-vm on FabricHost1: web01 provisioned from the template in ${t_prov} s (ComputerName Web01, policy shielded)"
[ $rc -eq 0 ] || sed 's/^/# /' "$T/p1.err"
grep -E "checked in|released to|started after|verified after|provisioned after|provisioned in" "$T/p1.err" |
	sed 's/^/# /'
ok $([ -f "$H1/vms/web01/disk.img" ] && [ -f "$H1/vms/web01/vtpm/tpm2-00.permall" ] &&
	[ "$(jq -r .policy "$H1/vms/web01/config.json")" = shielded ] &&
	cmp -s "$H1/vms/web01/key-protector.kp" "$T/web.kp" && refused "$H1" nothing &&
	[ ! -e "$H1/vms/.provision-web01.json" ]; echo $?) \
	"web01's folder: disk, vTPM state, config (the .pdk's policy), the .pdk's KP; no staging folder left"
run "$B" host get-provisioning-status --dir "$H1" --name web01 --json
ok $([ $RC -eq 0 ] && jq -e '.Status == "Completed" and .Phase == "Provisioned" and
	.PercentComplete == 100 and .ComputerName == "Web01"' <<<"$OUT" >/dev/null; echo $?) \
	"get-provisioning-status: Completed, Provisioned, 100 %, ComputerName Web01"
run "$B" tenant inspect-vm --bundle "$H1/vms/web01" --search "$SECRET"
ok $? "web01 as the host keeps it is ciphertext only: LUKS2, vTPM state unreadable without the TK, the secret not found (inspect-vm)"

t0=$(date +%s.%N)
run "$B" host start-vm --dir "$H1" --name web01 --json
HOSTNAME_SUM=$(printf 'Web01\n' | sha256sum | cut -c1-64)
ANSWER_SUM=$(printf '%s\nComputerName=Web01\n' "$SECRET" | sha256sum | cut -c1-64)
ok $([ $RC -eq 0 ] && [ "$(jq -r .State <<<"$OUT")" = Running ] &&
	[ "$(jq -r .ComputerName <<<"$OUT")" = Web01 ] &&
	grep -qF "etc/hostname=$HOSTNAME_SUM" <<<"$(jq -r .Workload <<<"$OUT")" &&
	grep -qF ".hgslab/unattend.txt=$ANSWER_SUM" <<<"$(jq -r .Workload <<<"$OUT")"; echo $?) \
	"start-vm web01 ($(since "$t0") s): running; the guest reports computer name Web01, its /etc/hostname and answer file specialized (their SHA-256)"
[ $RC -eq 0 ] || sed 's/^/# /' <<<"$OUT$ERR"
run "$B" host stop-vm --dir "$H1" --name web01
ok $([ $RC -eq 0 ] && [ -z "$(pgrep -f "$H1/vms/web01")" ]; echo $?) "stop-vm web01: powered off, nothing of it runs"
# web01's signed policy is the .pdk itself (policy.sig): an edited config.json does not downgrade it
cp "$H1/vms/web01/config.json" "$T/web01.config.json"
jq '.policy = "encryption-supported"' "$T/web01.config.json" >"$H1/vms/web01/config.json"
run "$B" host start-vm --dir "$H1" --name web01
r=$RC e=$ERR
run "$B" host connect-vm --dir "$H1" --name web01
cp "$T/web01.config.json" "$H1/vms/web01/config.json"
ok $([ $r -eq 4 ] && grep -q "signed policy statement says 'shielded'" <<<"$e" && [ $RC -eq 4 ] &&
	cmp -s "$H1/vms/web01/policy.sig" "$W/web.pdk" && [ -z "$(pgrep -f "$H1/vms/web01")" ]; echo $?) \
	"web01 keeps the .pdk as policy.sig: with config.json edited to encryption-supported start-vm and connect-vm exit 4"
# moved like any shielded VM: its folder is a bundle; on the debug host KPS gives no TK
before=$(cd "$H1/vms/web01" && sha256sum disk.img vtpm/tpm2-00.permall key-protector.kp)
run "$B" host import-vm --dir "$H2" --bundle "$H1/vms/web01"
ok $RC "import-vm of web01 (the provisioned VM's folder as a bundle) on FabricHost2"
run "$B" host start-vm --dir "$H2" --name web01
ok $([ $RC -eq 4 ] && grep -q "InsecureHostConfiguration" <<<"$ERR" && grep -q "DebugMode" <<<"$ERR" &&
	[ "$(cd "$H2/vms/web01" && sha256sum disk.img vtpm/tpm2-00.permall key-protector.kp)" = "$before" ] &&
	[ ! -e "$H2/vms/web01/state.json" ]; echo $?) \
	"start-vm web01 on the debug host FabricHost2: refused like any shielded VM (exit 4, DebugMode), files untouched"

t0=$(date +%s.%N)
run "$B" host new-shielded-vm --dir "$H1" --name web02 --template "$W/ws2016.tdisk" --pdk "$W/web.pdk" \
	--start --json
ok $([ $RC -eq 0 ] && [ "$(jq -r .State <<<"$OUT")" = Running ] &&
	[ "$(jq -r .ComputerName <<<"$OUT")" = "@ComputerName@" ]; echo $?) \
	"new-shielded-vm --start web02 without a .fsk ($(since "$t0") s): provisioned and running, the placeholder left as it was"
[ $RC -eq 0 ] || sed 's/^/# /' <<<"$OUT$ERR"
grep -E "provisioned after|one boot" <<<"$ERR" | sed 's/^/# /'
# --start is one boot: web02's keeper ran the specialize boot and the guest went on into run mode
KPID=$(cat "$H1/vms/web02/keeper.pid" 2>/dev/null)
QPID=$(pgrep -P "${KPID:-1}" -f qemu-system-x86_64 | head -n1)
VPID=$(pgrep -P "${KPID:-1}" -f "swtpm socket" | head -n1)
ok $([ -n "$KPID" ] && [ -n "$QPID" ] && [ -n "$VPID" ] &&
	[ "$(jq -r '.state + " " + (.keeper_pid|tostring)' "$H1/vms/web02/state.json")" = "Running $KPID" ] &&
	grep -q "hgslab.mode=specialize hgslab.then=run" "/proc/$QPID/cmdline" &&
	grep -q "/proc/self/fd/4" "/proc/$VPID/cmdline" &&
	[ "$(jq -r '.status + " " + .phase' "$H1/vms/web02/provisioning.json")" = "Completed Provisioned" ] &&
	[ -z "$(vms_of "$H1" | grep '^\.provision-')" ]; echo $?) \
	"web02 runs from its one boot under its VM keeper (pid ${KPID:-none}, holding keeper.pid): state Running, QEMU specialize + then=run, swtpm on its vTPM folder by descriptor, no staging folder or status left"
socks=$(cd "$H1/vms/web02" && find . -type s | sort | tr '\n' ' ')
ok $([ "$socks" = "./run/agent.sock ./run/swtpm.sock " ] && [ ! -e "$H1/vms/web02/run/console.log" ] &&
	grep -q -- "-serial none" <(tr '\0' ' ' <"/proc/$QPID/cmdline"); echo $?) \
	"web02's run/ as a started shielded VM's: the agent and vTPM sockets only (no QMP socket, no console)"
"$MEMSCAN" "${VPID:-0}" "$TK" >/dev/null
sw=$?
"$MEMSCAN" "${KPID:-0}" "$TK" >"$T/keeper.scan"
kp=$?
ok $([ $sw -eq 0 ] && [ $kp -eq 1 ]; echo $?) \
	"web02's keeper holds no copy of the TK in its memory once swtpm has it (the scan finds it in swtpm's)"
sed 's/^/# keeper: /' "$T/keeper.scan" | head -n 5
run "$B" host stop-vm --dir "$H1" --name web02
ok $([ $RC -eq 0 ] && [ "$(jq -r .state "$H1/vms/web02/state.json")" = Off ] &&
	grep -q "power-off requested" "$H1/vms/web02/keeper.log" &&
	[ -z "$(pgrep -f "keep-vm --dir $H1 --name web02|$H1/vms/.provision-")" ]; echo $?) \
	"stop-vm web02: SIGUSR1 to its keeper, system_powerdown, state Off, nothing of it runs"
[ $RC -eq 0 ] || sed 's/^/# /' <<<"$OUT$ERR"
sed 's/^/# keeper.log: /' "$H1/vms/web02/keeper.log" | tail -n 4
# the vTPM state swtpm wrote through the renamed folder is whole: a start unseals the disk key
run "$B" host start-vm --dir "$H1" --name web02 --json
ok $([ $RC -eq 0 ] && [ "$(jq -r .State <<<"$OUT")" = Running ]; echo $?) \
	"start-vm web02 after it: the key sealed during the provisioning boot unseals, the guest runs"
[ $RC -eq 0 ] || sed 's/^/# /' <<<"$OUT$ERR"
run "$B" host stop-vm --dir "$H1" --name web02
ok $RC "stop-vm web02"
# a signal to new-shielded-vm --start during the boot: its keeper removes what it made
"$B" host new-shielded-vm --dir "$H1" --name web03 --template "$W/ws2016.tdisk" --pdk "$W/web.pdk" \
	--start >"$T/p3.out" 2>"$T/p3.err" </dev/null &
P3=$!
for _ in $(seq 1 600); do
	[ -n "$(pgrep -f "qemu-system-x86_64.*$H1/vms/.provision-")" ] && break
	sleep 0.05
done
kill -TERM "$P3"
wait "$P3"
rc=$?
run "$B" host get-provisioning-status --dir "$H1" --name web03 --json
ok $([ $rc -eq 143 ] && refused "$H1" web03 && [ "$(jq -r .Status <<<"$OUT")" = Failed ] &&
	[ -z "$(pgrep -f "$H1/vms/.provision-")" ] && [ -z "$(pgrep -f "keep-vm --dir $H1 --name web03")" ]; echo $?) \
	"SIGTERM to new-shielded-vm --start mid-boot: exit 143, its keeper stopped QEMU and swtpm and removed the staging folder, status Failed"
[ $rc -eq 143 ] || sed 's/^/# /' "$T/p3.err"
mark "FabricHost1 provisioned and ran two VMs"

# ---- refusals: no new VM, no staging folder, no process ----
cp "$W/ws2016.tdisk" "$W/altered.tdisk"
flip "$W/altered.tdisk" 70000
run "$B" host new-shielded-vm --dir "$H1" --name bad1 --template "$W/altered.tdisk" --pdk "$W/web.pdk"
ok $([ $RC -eq 4 ] && grep -q "changed after it was signed" <<<"$ERR" && refused "$H1" bad1; echo $?) \
	"a template altered after signing: the host's check refuses (exit 4), no VM"
sed 's/^/# /' <<<"$ERR" | head -n 1
run "$B" host get-provisioning-status --dir "$H1" --name bad1 --json
ok $([ "$(jq -r .Status <<<"$OUT")" = Failed ] && grep -q "changed after it was signed" <<<"$(jq -r .Error <<<"$OUT")"; echo $?) \
	"get-provisioning-status bad1: Failed, with the reason"

# The swapped-template attack: a QEMU wrapper (a host turned bad) replaces the
# template file after new-shielded-vm checked it, then runs the real QEMU.
mkdir -p "$T/evil"
cat >"$T/evil/qemu-system-x86_64" <<EOF
#!/bin/sh
for a; do case \$a in file=*id=template*) f=\${a#file=}; f=\${f%%,*}; cp "$W/altered.tdisk" "\$f" ;; esac; done
PATH=$PATH exec qemu-system-x86_64 "\$@"
EOF
chmod +x "$T/evil/qemu-system-x86_64"
cp "$W/ws2016.tdisk" "$W/swapped.tdisk"
t0=$(date +%s.%N)
PATH="$T/evil:$PATH" run "$B" host new-shielded-vm --dir "$H1" --name bad2 --template "$W/swapped.tdisk" \
	--pdk "$W/web.pdk" --fsk "$W/web01.fsk"
ok $([ $RC -eq 4 ] && ! cmp -s "$W/swapped.tdisk" "$W/ws2016.tdisk" &&
	grep -q "at stage template: the template disk changed after its signature was checked" <<<"$ERR" &&
	refused "$H1" bad2; echo $?) \
	"the swapped-template attack ($(since "$t0") s): the host's check passed, the guest finds the copied image is not the signed one (stage template, exit 4), no VM"
sed 's/^/# /' <<<"$ERR" | grep -m1 "cannot provision"
run "$B" host get-provisioning-status --dir "$H1" --name bad2 --json
ok $([ "$(jq -r .Status <<<"$OUT")" = Failed ] && [ "$(jq -r .PercentComplete <<<"$OUT")" = 40 ]; echo $?) \
	"bad2 failed while the guest verified the template (40 %): the secrets key was never sent"

"$B" tenant new-volume-id-qualifier --disk "$W/ws2016.tdisk" --version-rule greater-than \
	--out "$W/gt.viq" >/dev/null &&
	"$B" tenant new-shielding-data-file --dir "$TEN" --owner Owner --guardian MyHgsService \
		--volume-id-qualifier "$W/gt.viq" --policy shielded --out "$W/gt.pdk" >/dev/null
run "$B" host new-shielded-vm --dir "$H1" --name bad3 --template "$W/ws2016.tdisk" --pdk "$W/gt.pdk"
ok $([ $RC -eq 4 ] && grep -q "is not greater than 1.0.0.0" <<<"$ERR" && refused "$H1" bad3; echo $?) \
	"the version rule not met (greater-than 1.0.0.0 for 1.0.0.0): refused (exit 4), no VM"
sed 's/^/# /' <<<"$ERR" | head -n 1

cp "$W/ws2016.tdisk" "$W/mallory.tdisk"
"$B" tenant protect-template-disk --disk "$W/mallory.tdisk" --name WindowsServer2016 --version 1.0.0.0 \
	--dir "$TEN" --signer Mallory >/dev/null
run "$B" host new-shielded-vm --dir "$H1" --name bad4 --template "$W/mallory.tdisk" --pdk "$W/web.pdk"
ok $([ $RC -eq 4 ] && grep -q "signed by" <<<"$ERR" && refused "$H1" bad4; echo $?) \
	"the same template signed by Mallory, whom the .pdk does not trust: refused (exit 4), no VM"
sed 's/^/# /' <<<"$ERR" | head -n 1

"$B" tenant new-guardian --dir "$TEN" --name OtherFabric >/dev/null &&
	"$B" tenant new-shielding-data-file --dir "$TEN" --owner Owner --guardian OtherFabric \
		--volume-id-qualifier "$W/ws2016.viq" --policy shielded --out "$W/other.pdk" >/dev/null
run "$B" host new-shielded-vm --dir "$H1" --name bad5 --template "$W/ws2016.tdisk" --pdk "$W/other.pdk"
ok $([ $RC -eq 4 ] && grep -q "key release refused by '$KPURL': GuardianNotListed" <<<"$ERR" &&
	refused "$H1" bad5; echo $?) \
	"a .pdk for another fabric only (OtherFabric): MyHgsService's KPS says GuardianNotListed (exit 4), no VM"
sed 's/^/# /' <<<"$ERR" | head -n 1

run "$B" host new-shielded-vm --dir "$H2" --name web09 --template "$W/ws2016.tdisk" --pdk "$W/web.pdk" \
	--fsk "$W/web01.fsk"
ok $([ $RC -eq 4 ] && grep -q "InsecureHostConfiguration" <<<"$ERR" && grep -q "DebugMode" <<<"$ERR" &&
	refused "$H2" web09; echo $?) \
	"on the debug host FabricHost2: refused (exit 4, InsecureHostConfiguration / DebugMode), no VM"
sed 's/^/# /' <<<"$ERR" | head -n 1
run "$B" host get-provisioning-status --dir "$H2" --name web09
ok $([ $RC -eq 0 ] && [ "$(field Status)" = Failed ] && [ "$(field Phase)" = Failed ] &&
	grep -q DebugMode <<<"$(field Error)"; echo $?) "get-provisioning-status on FabricHost2: Failed, DebugMode"

head -c 300 "$W/web.pdk" >"$W/truncated.pdk"
run "$B" host new-shielded-vm --dir "$H1" --name bad6 --template "$W/ws2016.tdisk" --pdk "$W/truncated.pdk"
ok $([ $RC -eq 2 ] && grep -q "shielding data" <<<"$ERR" && refused "$H1" bad6; echo $?) \
	"a truncated .pdk: exit 2 with the reason, no VM"
run "$B" host new-shielded-vm --dir "$H1" --name web01 --template "$W/ws2016.tdisk" --pdk "$W/web.pdk"
ok $([ $RC -eq 1 ] && grep -q "already has VM 'web01'" <<<"$ERR"; echo $?) "a VM name the host has: refused"
ok $([ -z "$(pgrep -f "qemu-system-x86_64.*$W")" ] && [ -z "$(pgrep -f "swtpm socket.*$W/hosts/h[12]/vms")" ]; echo $?) \
	"no QEMU or vTPM swtpm of a refused run is left"
mark "refusals done"

# ---- nothing readable, nothing left ----
found=$(grep -rlaF "$SECRET" "$W" 2>/dev/null)
ok $([ -z "$found" ]; echo $?) "the answer file's secret is in no file of the lab (HGS, hosts, tenant; the .pdk holds it encrypted)"
[ -z "$found" ] || sed 's/^/# found in /' <<<"$found"
mapfile -t small < <(find "$W/hgs" "$H1" "$H2" "$TEN" -type f -size -1M)
scan_files "$hexsecret" "${small[@]}"
ok $? "nor as hex or base64 in any of the ${#small[@]} files under 1 MiB of HGS, the hosts or the tenant (all but the disks)"
tk_nowhere "$TK" "$W"
ok $? "the TK is in no file under the lab: as hex anywhere, raw in every file under 1 MiB (all but the disks)"
stop_bg HGS
left=$(lab_pids)
ok $([ -z "$left" ]; echo $?) "no process of the lab is left (HGS, swtpm, QEMU, keepers)"
[ -z "$left" ] || ps -o pid,args -p "$(tr '\n' ',' <<<"$left" | sed 's/,$//')" | sed 's/^/# /'
mark "done"
