#!/usr/bin/env bash
# shielded_vm.sh - a shielded VM end to end with real processes (DESIGN.md
# flows 5-7): an `hgs serve` node in TPM mode (attestation + KPS), a Passed
# host FabricHost1, a debug host FabricHost2 (debug=on), a tenant with Owner
# and the imported MyHgsService guardian, and one key protector for both.
#
# Proves: new-vm puts the tenant's file on a plain ext4 disk; killing QEMU in
# the middle of shield-vm leaves the VM unprovisioned with nothing
# half-written, and shield-vm run again shields it (LUKS2 disk, plain disk
# gone); export-vm writes the bundle and inspect-vm shows ciphertext only
# (LUKS2 magic, swtpm refuses the vTPM state without the TK and with a wrong
# key, the secret is not found); on FabricHost1 start-vm releases the TK
# through KPS and the guest reports running with the SHA-256 of the secret,
# get-vm shows it, the keeper holds no copy of the TK in its memory (swtpm has
# it), no socket under the host's folder answers QMP (dump-guest-memory, a
# gdbserver), connect-vm is refused for a shielded VM, stop-vm asks the
# keeper, which powers it off over its private QMP, a second start runs again, QEMU killed while running leaves
# it Off and startable (a third start runs); on FabricHost2 start-vm is
# refused (exit 4, InsecureHostConfiguration / DebugMode) and the VM's files
# are unchanged; the same bundle on FabricHost3 (never added with add-tpm-host)
# is refused (exit 4, UnauthorizedHost) and on ContosoHost, Passed at a second
# HGS OtherHgs whose guardian the KP does not name, OtherHgs's KPS refuses it
# (exit 4, GuardianNotListed), both with the VM's files unchanged and no QEMU
# started; the secret is in no file of the lab, the TK in no file and
# no command line or environment; no process is left.
#
# vm2 (encryption-supported): connect-vm attaches to its serial console.
#
# The signed policy: the bundle's policy.sig is the Owner's statement (openssl
# verifies it); config.json edited on FabricHost1 to encryption-supported, or
# vm2's statement copied into vm1: start-vm and connect-vm are refused (exit 4)
# before any QEMU; with the genuine files back the statement holds.
#
# Boots: one cut short, two provisioning, four runs (each ~3-8 s under TCG).
# Needs `make guest` (build/guest, or $HGSLAB_GUEST_DIR).
. "$(dirname "$0")/lib.sh"

. "$(dirname "$0")/lab.sh"

: "${HGSLAB_GUEST_DIR:=$ROOT/build/guest}"
export HGSLAB_GUEST_DIR
SECRET="tenant secret 42"

require swtpm swtpm_setup qemu-system-x86_64 mke2fs jq sha256sum openssl xxd od socat
MEMSCAN="$ROOT/build/release/tests/helper_memscan"
[ -x "$MEMSCAN" ] || { echo "Bail out! $MEMSCAN is not built: make"; exit 1; }
require_guest "$HGSLAB_GUEST_DIR"

trap 'stop_keepers; cleanup; rm -rf "$T"' EXIT

# sums DIR: one line per file under DIR with its SHA-256 (sorted), for before/after checks.
sums() { (cd "$1" && find . -type f -print0 | sort -z | xargs -0 sha256sum); }

WANT=$(printf '%s' "$SECRET" | sha256sum | cut -c1-64)

plan 51

# ---- the lab (tests/cli/lab.sh, as kps_e2e.sh) ----
lab_tpm "$HGSLAB" "$T/lab"
H3_ADDR=$NET.4 H4_ADDR=$NET.5 A2_ADDR=$NET.6
H3="$W/hosts/h3" H4="$W/hosts/h4" A2="$W/hgs-other" TEN="$W/tenant"
KP="$W/vm1.kp" BUNDLE="$W/bundle-vm1"
lab_tenant "$TEN" "$KP"
mark "lab ready"

# ---- the tenant: template, shielding, bundle ----
run "$B" tenant new-vm --dir "$TEN" --name vm1 --file "secret.txt=$SECRET"
ok $([ $RC -eq 0 ] && grep -qaF "$SECRET" "$TEN/vms/vm1/plain.img"; echo $?) \
	"new-vm: the plain disk holds secret.txt in clear (so the checks below mean something)"

# shield-vm, QEMU killed while it provisions: unprovisioned, nothing half-written.
"$B" tenant shield-vm --dir "$TEN" --vm vm1 --key-protector "$KP" --policy shielded \
	>"$T/cut.out" 2>"$T/cut.err" &
SPID=$!
qpid=""
for _ in $(seq 1 300); do
	qpid=$(pgrep -f "qemu-system-x86_64.*$TEN/vms/vm1/.shield-" | head -n1)
	[ -n "$qpid" ] && break
	sleep 0.05
done
[ -n "$qpid" ] && sleep 1 && kill -KILL "$qpid"
wait "$SPID"
rc=$?
ok $([ -n "$qpid" ] && [ $rc -eq 1 ] && [ -f "$TEN/vms/vm1/plain.img" ] &&
	[ ! -e "$TEN/vms/vm1/shielded" ] && [ -z "$(ls -A "$TEN/vms/vm1" | grep -v -e '^plain.img$' -e '^vm.json$')" ] &&
	grep -q "run shield-vm again" "$T/cut.err"; echo $?) \
	"QEMU killed mid-provisioning: shield-vm fails, the VM stays unprovisioned, nothing half-written"
sed 's/^/# /' "$T/cut.err" | tail -n 2

t0=$(date +%s.%N)
run "$B" tenant shield-vm --dir "$TEN" --vm vm1 --key-protector "$KP" --policy shielded
t_shield=$(since "$t0")
ok $([ $RC -eq 0 ] && [ -d "$TEN/vms/vm1/shielded/vtpm" ] && [ ! -e "$TEN/vms/vm1/plain.img" ]; echo $?) \
	"shield-vm run again: provisioned in ${t_shield} s; the plain disk is removed"
[ $RC -eq 0 ] || sed 's/^/# /' <<<"$ERR"
grep -E "provisioned after" <<<"$ERR" | sed 's/^/# /'
run "$B" tenant shield-vm --dir "$TEN" --vm vm1 --key-protector "$KP" --policy shielded
ok $([ $RC -eq 1 ] && grep -q "already shielded" <<<"$ERR"; echo $?) "shield-vm refuses a VM already shielded"

run "$B" tenant export-vm --dir "$TEN" --vm vm1 --out "$BUNDLE"
ok $([ $RC -eq 0 ] && [ -f "$BUNDLE/disk.img" ] && [ -f "$BUNDLE/vtpm/tpm2-00.permall" ] &&
	[ "$(jq -r .policy "$BUNDLE/config.json")" = shielded ] && [ -f "$BUNDLE/key-protector.kp" ]; echo $?) \
	"export-vm: disk, vTPM state, KP and config (policy shielded) in the bundle"

run "$B" tenant inspect-vm --bundle "$BUNDLE" --search "$SECRET"
ok $([ $RC -eq 0 ] && [[ $(field Disk) == LUKS2* ]] &&
	[ "$(field VtpmWithoutKey)" = "refused: Could not initialize libtpms" ] &&
	[ "$(field VtpmWrongKey)" = "refused: Could not initialize libtpms" ] &&
	[ "$(field Search)" = "'$SECRET': not found" ]; echo $?) \
	"inspect-vm: LUKS2 disk, swtpm refuses the vTPM state without the TK and with a wrong one, no plaintext"
sed 's/^/# /' <<<"$OUT" | grep -E "Disk|Vtpm|Search"

# ---- FabricHost1: released, running, stopped, running again ----
run "$B" host import-vm --dir "$H1" --bundle "$BUNDLE"
ok $RC "import-vm on FabricHost1"
run "$B" host import-vm --dir "$H2" --bundle "$BUNDLE"
ok $RC "import-vm on FabricHost2"

t0=$(date +%s.%N)
run "$B" host start-vm --dir "$H1" --name vm1 --json
t_start=$(since "$t0")
ok $([ $RC -eq 0 ] && [ "$(jq -r .State <<<"$OUT")" = Running ] &&
	[ "$(jq -r .Workload <<<"$OUT")" = "secret.txt=$WANT" ]; echo $?) \
	"start-vm on FabricHost1 (attests, KPS releases the TK): running with the SHA-256 of secret.txt (${t_start} s)"
[ $RC -eq 0 ] || sed 's/^/# /' <<<"$OUT$ERR"
run "$B" host get-vm --dir "$H1" --json
ok $([ $RC -eq 0 ] && jq -e '.[0].Name == "vm1" and .[0].State == "Running" and
	.[0].Policy == "shielded" and .[0].HostHealth == "Passed"' <<<"$OUT" >/dev/null; echo $?) \
	"get-vm: vm1 Running, policy shielded, host Passed"
# The TK (from the owner's key with openssl, into a shell variable only): in no
# command line or environment of the running VM's processes.
TK=$(kp_open "$KP" 0 "$TEN/guardians/Owner/encryption.key")
mapfile -t PIDS < <(pgrep -f "$H1/vms/vm1"; pgrep -f "keep-vm --dir $H1 --name vm1")
scan_procs "$TK" ${PIDS[@]+"${PIDS[@]}"}
ok $(($? + (${#TK} != 64) + (SCANNED < 3))) \
	"the TK is in no command line or environment of the VM's $SCANNED processes (keeper, swtpm, QEMU)"
# The TK once swtpm has it: the keeper that handed it on holds no copy in its memory (read
# through /proc/PID/mem; the scan is proved on swtpm, which must hold it).
KPID=$(cat "$H1/vms/vm1/keeper.pid" 2>/dev/null)
VPID=$(pgrep -f "swtpm socket.*$H1/vms/vm1" | head -n1)
"$MEMSCAN" "${VPID:-0}" "$TK" >/dev/null
sw=$?
"$MEMSCAN" "${KPID:-0}" "$TK" >"$T/keeper.scan"
kp=$?
ok $([ $sw -eq 0 ] && [ $kp -eq 1 ]; echo $?) \
	"the running VM's keeper (pid ${KPID:-none}) holds no copy of the TK in its memory (the scan finds it in swtpm's)"
sed 's/^/# keeper: /' "$T/keeper.scan" | head -n 5
# QMP: no socket under the host's folder answers it, so the host admin can neither dump
# the guest's memory nor start a gdbstub through anything hgslab exposes.
qsocks=0
qleak=""
while IFS= read -r -d '' sock; do
	qsocks=$((qsocks + 1))
	reply=$(printf '%s\n' '{"execute":"qmp_capabilities"}' \
		'{"execute":"human-monitor-command","arguments":{"command-line":"gdbserver tcp::4444"}}' \
		"{\"execute\":\"dump-guest-memory\",\"arguments\":{\"paging\":false,\"protocol\":\"file:$T/dump\"}}" |
		timeout 5 socat -t 2 - "UNIX-CONNECT:$sock" 2>/dev/null)
	grep -q '"QMP"\|"return"' <<<"$reply" && qleak="$qleak $sock"
done < <(find "$H1" -type s -print0)
QPID=$(pgrep -f "qemu-system-x86_64.*$H1/vms/vm1" | head -n1)
ok $([ -z "$qleak" ] && [ ! -e "$T/dump" ] && [ -n "$QPID" ] &&
	! tr '\0' ' ' <"/proc/$QPID/cmdline" | grep -q -- "qmp.sock\|-qmp unix"; echo $?) \
	"no socket under the host's folder speaks QMP ($qsocks tried with dump-guest-memory and a gdbserver): no memory dump, no debugger"
[ -z "$qleak" ] || echo "# QMP answers on:$qleak"
run "$B" host connect-vm --dir "$H1" --name vm1
ok $([ $RC -eq 4 ] && grep -q "is shielded: the host gives no console" <<<"$ERR"; echo $?) \
	"connect-vm is refused for a shielded VM (exit 4, with the reason)"
qemu_running=$(pgrep -f "qemu-system-x86_64.*$H1/vms/vm1" | wc -l)
ok $([ "$qemu_running" -eq 1 ] && ! grep -q -- "-serial unix\|-gdb\|-monitor stdio" \
	<(tr '\0' ' ' <"/proc/$(pgrep -f "qemu-system-x86_64.*$H1/vms/vm1" | head -n1)/cmdline"); echo $?) \
	"the shielded VM's QEMU has no serial console, monitor or gdbstub"

t0=$(date +%s.%N)
run "$B" host stop-vm --dir "$H1" --name vm1
t_stop=$(since "$t0")
ok $([ $RC -eq 0 ] && [ -z "$(pgrep -f "$H1/vms/vm1")" ]; echo $?) \
	"stop-vm: system_powerdown over QMP, QEMU, swtpm and the keeper exit (${t_stop} s)"
run "$B" host get-vm --dir "$H1" --name vm1
ok $([ "$(field State)" = Off ]; echo $?) "get-vm: vm1 Off"

t0=$(date +%s.%N)
run "$B" host start-vm --dir "$H1" --name vm1 --json
ok $([ $RC -eq 0 ] && [ "$(jq -r .Workload <<<"$OUT")" = "secret.txt=$WANT" ]; echo $?) \
	"start-vm again after the stop: running again ($(since "$t0") s)"
# QEMU killed while the VM runs: the keeper records Off, and the VM starts again.
qpid=$(pgrep -f "qemu-system-x86_64.*$H1/vms/vm1" | head -n1)
[ -n "$qpid" ] && kill -KILL "$qpid"
for _ in $(seq 1 200); do
	[ -z "$(pgrep -f "$H1/vms/vm1")" ] && [ "$(jq -r .state "$H1/vms/vm1/state.json")" = Off ] && break
	sleep 0.1
done
ok $([ -n "$qpid" ] && [ -z "$(pgrep -f "$H1/vms/vm1")" ] &&
	[ "$(jq -r .state "$H1/vms/vm1/state.json")" = Off ]; echo $?) \
	"QEMU killed while the VM runs: swtpm is stopped and the keeper records Off"
t0=$(date +%s.%N)
run "$B" host start-vm --dir "$H1" --name vm1 --json
ok $([ $RC -eq 0 ] && [ "$(jq -r .Workload <<<"$OUT")" = "secret.txt=$WANT" ]; echo $?) \
	"after the kill the VM starts again: running ($(since "$t0") s)"
run "$B" host stop-vm --dir "$H1" --name vm1
ok $RC "stop-vm again"
sed 's/^/# keeper.log: /' "$H1/vms/vm1/keeper.log"

# An encryption-supported VM: the host may attach to its serial console.
"$B" tenant new-vm --dir "$TEN" --name vm2 --file note.txt=hello >/dev/null &&
	"$B" tenant shield-vm --dir "$TEN" --vm vm2 --key-protector "$KP" \
		--policy encryption-supported -q >/dev/null &&
	"$B" tenant export-vm --dir "$TEN" --vm vm2 --out "$W/bundle-vm2" >/dev/null &&
	"$B" host import-vm --dir "$H1" --bundle "$W/bundle-vm2" >/dev/null
ok $? "vm2 (encryption-supported): new-vm, shield-vm, export-vm, import-vm on FabricHost1"
run "$B" host start-vm --dir "$H1" --name vm2
ok $([ $RC -eq 0 ] && [ "$(field Policy)" = encryption-supported ]; echo $?) "start-vm vm2: running"
"$B" host connect-vm --dir "$H1" --name vm2 --seconds 30 >"$T/console.out" 2>"$T/console.err" </dev/null &
CPID=$!
for _ in $(seq 1 100); do grep -q attached "$T/console.err" && break; sleep 0.05; done
"$B" host stop-vm --dir "$H1" --name vm2 >/dev/null
wait "$CPID"
rc=$?
ok $([ $rc -eq 0 ] && grep -q '"event":"stopping"' "$T/console.out"; echo $?) \
	"connect-vm attaches to vm2's serial console: it shows the guest's 'stopping' line when stop-vm powers it off"
sed 's/^/# console: /' "$T/console.out" | tail -n 3

# ---- the tenant's signed policy: the host cannot downgrade vm1 by editing config.json ----
# policy.sig is the Owner's signed statement (the KP's envelope): openssl checks it
# with the Owner's signing certificate, as the host does with the KP's.
jq -r .body "$BUNDLE/policy.sig" 2>/dev/null | base64 -d >"$T/stmt.body" 2>/dev/null
jq -r .signature "$BUNDLE/policy.sig" 2>/dev/null | base64 -d >"$T/stmt.sig" 2>/dev/null
openssl x509 -in "$TEN/guardians/Owner/signing.crt" -pubkey -noout >"$T/owner.pub"
ok $([ "$(jq -r .format "$BUNDLE/policy.sig" 2>/dev/null)" = hgslab-vm-policy ] &&
	[ "$(jq -r '.policy + " " + .vm + " " + .kp_id' "$T/stmt.body" 2>/dev/null)" = \
	  "shielded vm1 $(jq -r .kp_id "$BUNDLE/config.json")" ] &&
	openssl dgst -sha256 -sigopt rsa_padding_mode:pss -verify "$T/owner.pub" \
		-signature "$T/stmt.sig" "$T/stmt.body" >/dev/null; echo $?) \
	"the bundle carries the Owner's signed policy statement (policy.sig: shielded, vm1, the KP's id; openssl verifies it)"
V1="$H1/vms/vm1"
cp "$V1/config.json" "$T/vm1.config.json"
cp "$V1/policy.sig" "$T/vm1.policy.sig" 2>/dev/null
jq '.policy = "encryption-supported"' "$T/vm1.config.json" >"$V1/config.json"
run "$B" host start-vm --dir "$H1" --name vm1
ok $([ $RC -eq 4 ] && grep -q "signed policy statement says 'shielded'" <<<"$ERR" &&
	[ -z "$(pgrep -f "qemu-system-x86_64.*$V1")" ]; echo $?) \
	"config.json edited to encryption-supported: start-vm is refused (exit 4, the signed policy statement says shielded), no QEMU"
sed 's/^/# /' <<<"$ERR" | head -n 2
"$B" host stop-vm --dir "$H1" --name vm1 >/dev/null 2>&1
run "$B" host connect-vm --dir "$H1" --name vm1
ok $([ $RC -eq 4 ] && grep -q "policy statement" <<<"$ERR"; echo $?) \
	"connect-vm is refused too (exit 4, the policy statement)"
# vm2's statement (same Owner and KP, encryption-supported) copied in: it names vm2.
cp "$H1/vms/vm2/policy.sig" "$V1/policy.sig" 2>/dev/null
run "$B" host start-vm --dir "$H1" --name vm1
ok $([ $RC -eq 4 ] && grep -q "policy statement of VM 'vm1' is for VM 'vm2'" <<<"$ERR" &&
	[ -z "$(pgrep -f "qemu-system-x86_64.*$V1")" ]; echo $?) \
	"vm2's policy statement (encryption-supported, same KP) copied into vm1: refused (exit 4, it is for VM 'vm2')"
"$B" host stop-vm --dir "$H1" --name vm1 >/dev/null 2>&1
cp "$T/vm1.config.json" "$V1/config.json"
cp "$T/vm1.policy.sig" "$V1/policy.sig" 2>/dev/null
run "$B" host connect-vm --dir "$H1" --name vm1
ok $([ $RC -eq 4 ] && grep -q "is shielded: the host gives no console" <<<"$ERR"; echo $?) \
	"the genuine files back: the statement holds and connect-vm refuses as for any shielded VM"
mark "FabricHost1 done"

# ---- FabricHost2: refused, files untouched ----
before=$(sums "$H2/vms/vm1")
run "$B" host start-vm --dir "$H2" --name vm1
ok $([ $RC -eq 4 ] && grep -q "InsecureHostConfiguration" <<<"$ERR" && grep -q "DebugMode" <<<"$ERR"; echo $?) \
	"start-vm on FabricHost2 is refused: exit 4, InsecureHostConfiguration (DebugMode)"
sed 's/^/# /' <<<"$ERR" | head -n 2
ok $([ "$(sums "$H2/vms/vm1")" = "$before" ] && [ ! -e "$H2/vms/vm1/state.json" ]; echo $?) \
	"the refused VM's files are untouched (SHA-256 of every file before = after)"

# ---- FabricHost3 (never registered) and ContosoHost (another HGS): refused, files untouched ----
# OtherHgs is a second HGS node (host-key mode) where ContosoHost is Passed, but
# the KP names MyHgsService's guardian, not OtherHgs's: its KPS refuses.
"$B" host new --dir "$H3" --name FabricHost3 --domain fabrikam.com --listen "$H3_ADDR" >/dev/null &&
	"$B" host set-client-configuration --dir "$H3" --attestation-url "$URL/Attestation" \
		--key-protection-url "$URL/KeyProtection" --resolve "$RESOLVE" >/dev/null &&
	"$B" host new --dir "$H4" --name ContosoHost --domain contoso.com --listen "$H4_ADDR" >/dev/null &&
	"$B" hgs init --dir "$A2" --name OtherHgs --domain contoso.com --trust hostkey \
		--listen "$A2_ADDR:0" >/dev/null
ok $? "FabricHost3 (pointed at MyHgsService, never added), ContosoHost and HGS OtherHgs (host-key mode)"
start_hgs HGS2 "$B" "$A2" OtherHgs
rc=$?
PORT2=$HGS2_PORT
URL2="http://hgs.contoso.com:$PORT2"
[ $rc -eq 0 ] && "$B" host get-host-key --dir "$H4" --out "$W/h4.hostkey.pem" >/dev/null &&
	"$B" hgs add-host-key --dir "$A2" --name ContosoHost --key "$W/h4.hostkey.pem" >/dev/null &&
	"$B" host set-client-configuration --dir "$H4" --attestation-url "$URL2/Attestation" \
		--key-protection-url "$URL2/KeyProtection" --resolve "hgs.contoso.com:$PORT2:$A2_ADDR" >/dev/null &&
	"$B" host import-vm --dir "$H3" --bundle "$BUNDLE" >/dev/null &&
	"$B" host import-vm --dir "$H4" --bundle "$BUNDLE" >/dev/null
ok $? "OtherHgs serves ($LINE); ContosoHost registered there; the bundle imported on both hosts"

before=$(sums "$H3/vms/vm1")
run "$B" host start-vm --dir "$H3" --name vm1
ok $([ $RC -eq 4 ] && grep -q "failed attestation: UnauthorizedHost" <<<"$ERR"; echo $?) \
	"start-vm on FabricHost3 (unregistered) is refused: exit 4, UnauthorizedHost"
sed 's/^/# /' <<<"$ERR" | head -n 2
ok $([ "$(sums "$H3/vms/vm1")" = "$before" ] && [ ! -e "$H3/vms/vm1/state.json" ]; echo $?) \
	"FabricHost3: the refused VM's files are untouched (SHA-256 of every file before = after)"

before=$(sums "$H4/vms/vm1")
run "$B" host start-vm --dir "$H4" --name vm1
ok $([ $RC -eq 4 ] && grep -q "key release refused by '$URL2/KeyProtection': GuardianNotListed: " <<<"$ERR"; echo $?) \
	"start-vm on ContosoHost (Passed at OtherHgs) is refused: exit 4, OtherHgs's KPS says GuardianNotListed"
sed 's/^/# /' <<<"$ERR" | head -n 2
run "$B" host get-vm --dir "$H4" --name vm1
ok $([ "$(sums "$H4/vms/vm1")" = "$before" ] && [ ! -e "$H4/vms/vm1/state.json" ] &&
	[ "$(field HostHealth)" = Passed ]; echo $?) \
	"ContosoHost: the host is Passed, yet the refused VM's files are untouched (before = after)"
ok $([ -z "$(pgrep -f "qemu-system-x86_64.*$W")" ]; echo $?) "no QEMU started for the refused VMs"

# ---- nothing readable, nothing left ----
found=$(grep -rlaF "$SECRET" "$W" 2>/dev/null)
ok $([ -z "$found" ]; echo $?) "the secret is in no file under the lab (HGS, hosts, tenant, bundle)"
[ -z "$found" ] || sed 's/^/# found in /' <<<"$found"
tk_nowhere "$TK" "$W"
ok $? "the TK is in no file under the lab: as hex anywhere, raw in every file under 1 MiB (all but the disks)"
"$B" tenant inspect-vm --bundle "$H1/vms/vm1" --search "$SECRET" >/dev/null 2>&1
ok $? "after two runs the host's copy is still ciphertext only (inspect-vm)"
stop_bg HGS
stop_bg HGS2
left=$(lab_pids)
ok $([ -z "$left" ]; echo $?) "no process of the lab is left (HGS, swtpm, QEMU, keepers)"
[ -z "$left" ] || ps -o pid,args -p "$(tr '\n' ',' <<<"$left" | sed 's/,$//')" | sed 's/^/# /'
mark "done"
