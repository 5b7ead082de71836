#!/usr/bin/env bash
# vmm.sh - the fabric controller by hand (`hgslab vmm`, sim/vmm.h), end to
# end with real processes: the TPM-mode lab of tests/cli/lab.sh (HGS
# MyHgsService, FabricHost1 healthy, FabricHost2 with boot debugging on, no
# host agents: a host is asked for a fresh attestation, which it makes
# directly), a third host FabricHost3 never pointed at an HGS, and the
# tenant's template disk (signed by Contoso), .pdk (an answer file with a
# secret) and .fsk (@ComputerName@=Web01).
#
# Proves: new-cloud refuses a bad name (exit 2), a folder that is no host, a
# host in Local mode, a host given twice and an existing cloud (exit 1), and
# records Cloud1 = FabricHost2, FabricHost1 in that order (--json too);
# get-cloud shows each host's recorded health; deploy refuses (exit 4) into
# a cloud of the debug host only ("FabricHost2: InsecureHostConfiguration
# (DebugMode)", --json State Refused with the skip) and with a template
# altered after signing (each host's reason), stops at once (exit 2) on a
# .pdk a host cannot read, and leaves no VM, staging folder or placement
# behind; deploy into Cloud1 skips FabricHost2 and places Web01 on
# FabricHost1, running with computer name Web01 (one provisioning boot, one
# start); get-placement lists it, a second deploy of Web01 is refused, and
# another controller's deploy of a VM of that name skips FabricHost1 (it has
# one); the answer file's secret is in no file of the lab, and nothing is
# left running.
# Needs `make guest`.
. "$(dirname "$0")/lib.sh"

. "$(dirname "$0")/lab.sh"

: "${HGSLAB_GUEST_DIR:=$ROOT/build/guest}"
export HGSLAB_GUEST_DIR
SECRET="AdminPassword=Vmm-Hand-S3cret-$$"

require swtpm swtpm_setup qemu-system-x86_64 mke2fs jq
require_guest "$HGSLAB_GUEST_DIR"

trap 'stop_keepers; cleanup; rm -rf "$T"' EXIT

# no_new_vm HOSTDIR VM: VM is not on the host and no staging folder is left.
no_new_vm() {
	[ ! -e "$1/vms/$2" ] && [ -z "$(ls -A "$1/vms" 2>/dev/null | grep '^\.provision-' | grep -v '\.json$')" ]
}

plan 36

# ---- the lab and the tenant's files ----
lab_tpm "$HGSLAB" "$T/lab"
TEN="$W/tenant" V="$W/vmm" H3="$W/hosts/h3"
lab_tenant "$TEN" "$W/unused.kp"
mkdir -p "$T/src/etc" "$T/secrets"
printf '@ComputerName@\n' >"$T/src/etc/hostname"
printf '%s\nComputerName=@ComputerName@\n' "$SECRET" >"$T/secrets/unattend.txt"
"$B" tenant new-template-signer --dir "$TEN" --name Contoso >/dev/null &&
	"$B" tenant new-template-disk --out "$W/ws2016.tdisk" --files "$T/src" --disk-size 4M >/dev/null &&
	"$B" tenant protect-template-disk --disk "$W/ws2016.tdisk" --name WindowsServer2016 \
		--version 1.0.0.0 --dir "$TEN" --signer Contoso >/dev/null &&
	"$B" tenant new-volume-id-qualifier --disk "$W/ws2016.tdisk" --version-rule equals \
		--out "$W/ws2016.viq" >/dev/null &&
	"$B" tenant new-shielding-data-file --dir "$TEN" --owner Owner --guardian MyHgsService \
		--volume-id-qualifier "$W/ws2016.viq" --answer-file "$T/secrets/unattend.txt" \
		--policy shielded --out "$W/web.pdk" >/dev/null &&
	"$B" tenant new-specialization-data-file --value "@ComputerName@=Web01" --out "$W/web01.fsk" >/dev/null &&
	"$B" host new --dir "$H3" --name FabricHost3 --domain fabrikam.com --listen "$NET.4" >/dev/null
ok $? "tenant: template WindowsServer2016 signed by Contoso, its qualifier, web.pdk (answer file), web01.fsk; FabricHost3 in Local mode"
mark "lab ready"

# ---- clouds ----
run "$B" vmm new-cloud --dir "$V" --name .hidden --host "$H1"
ok $([ $RC -eq 2 ] && grep -q "invalid cloud name '.hidden'" <<<"$ERR"; echo $?) "new-cloud: a bad cloud name exits 2"
run "$B" vmm new-cloud --dir "$V" --name Cloud1 --host "$W/nowhere"
ok $([ $RC -eq 2 ] && grep -q "cannot make the cloud" <<<"$ERR" && [ ! -e "$V/clouds.json" ]; echo $?) \
	"new-cloud: a folder that is no host exits 2 (bad input), nothing recorded"
run "$B" vmm new-cloud --dir "$V" --name Cloud1 --host "$H1" --host "$H3"
ok $([ $RC -eq 1 ] && grep -q "host 'FabricHost3' is not a guarded host (Local mode)" <<<"$ERR"; echo $?) \
	"new-cloud: a host in Local mode is refused (exit 1): a cloud holds guarded hosts"
run "$B" vmm new-cloud --dir "$V" --name Cloud1 --host "$H1" --host "$H1"
ok $([ $RC -eq 1 ] && grep -q "host 'FabricHost1' is given twice" <<<"$ERR"; echo $?) "new-cloud: a host given twice is refused"
run "$B" vmm new-cloud --dir "$V" --name Cloud1 --host "$H2" --host "$H1" --json
ok $([ $RC -eq 0 ] && jq -e '.Name == "Cloud1" and .Hosts == ["FabricHost2", "FabricHost1"]' <<<"$OUT" >/dev/null &&
	jq -e '.format == "hgslab-vmm-clouds" and .version == 1 and (.clouds | length) == 1' "$V/clouds.json" >/dev/null; echo $?) \
	"new-cloud Cloud1: FabricHost2, FabricHost1 in that order, recorded in clouds.json"
run "$B" vmm new-cloud --dir "$V" --name Cloud1 --host "$H1"
ok $([ $RC -eq 1 ] && grep -q "cloud 'Cloud1' exists" <<<"$ERR"; echo $?) "new-cloud: an existing cloud is refused"
run "$B" vmm new-cloud --dir "$V" --name DebugOnly --host "$H2"
ok $RC "new-cloud DebugOnly: FabricHost2 alone"
run "$B" vmm get-cloud --dir "$V" --json
ok $([ $RC -eq 0 ] && [ "$(jq length <<<"$OUT")" = 3 ] &&
	jq -e '.[0] | .Cloud == "Cloud1" and .Host == "FabricHost2" and .Health == "Unknown"' <<<"$OUT" >/dev/null; echo $?) \
	"get-cloud: a row per host of each cloud with its recorded health (none yet: Unknown)"
run "$B" vmm get-cloud --dir "$V" --name Nope
ok $([ $RC -eq 1 ] && grep -q "no cloud 'Nope'" <<<"$ERR"; echo $?) "get-cloud --name of an unknown cloud exits 1"

# ---- refusals: nothing made, nothing placed ----
run "$B" vmm deploy --dir "$V" --cloud DebugOnly --name Web01 --template "$W/ws2016.tdisk" \
	--pdk "$W/web.pdk" --fsk "$W/web01.fsk" --json
ok $([ $RC -eq 4 ] && grep -q "no host of cloud 'DebugOnly' qualifies for VM 'Web01': FabricHost2: InsecureHostConfiguration (DebugMode)" <<<"$ERR" &&
	jq -e '.State == "Refused" and .Host == null and .Skipped == ["FabricHost2: InsecureHostConfiguration (DebugMode)"]' <<<"$OUT" >/dev/null &&
	no_new_vm "$H2" Web01 && [ ! -e "$V/placements.json" ]; echo $?) \
	"deploy into a cloud of the debug host only: exit 4, 'FabricHost2: InsecureHostConfiguration (DebugMode)', no VM, no placement"
grep "cannot deploy" <<<"$ERR" | sed 's/^/# /'
run "$B" vmm get-cloud --dir "$V" --name DebugOnly
ok $([ $RC -eq 0 ] && grep -q "FabricHost2 InsecureHostConfiguration (DebugMode)" <<<"$OUT"; echo $?) \
	"get-cloud: FabricHost2's health after the fresh attestation VMM asked for"

cp "$W/ws2016.tdisk" "$W/altered.tdisk"
printf 'X' | dd of="$W/altered.tdisk" bs=1 seek=70000 conv=notrunc status=none
run "$B" vmm deploy --dir "$V" --cloud Cloud1 --name Web01 --template "$W/altered.tdisk" --pdk "$W/web.pdk"
ok $([ $RC -eq 4 ] && grep -q "FabricHost2: InsecureHostConfiguration (DebugMode); FabricHost1: '$W/altered.tdisk': template 'WindowsServer2016' changed after it was signed" <<<"$ERR" &&
	no_new_vm "$H1" Web01 && no_new_vm "$H2" Web01; echo $?) \
	"deploy of a template altered after signing: FabricHost2 skipped (attestation), FabricHost1 refuses (the host's check): exit 4, each reason"
grep "cannot deploy" <<<"$ERR" | cut -c1-240 | sed 's/^/# /'
printf '{"format":"hgslab-pdk"' >"$W/short.pdk"
run "$B" vmm deploy --dir "$V" --cloud Cloud1 --name Web01 --template "$W/ws2016.tdisk" --pdk "$W/short.pdk"
ok $([ $RC -eq 2 ] && grep -q "cannot deploy VM 'Web01'" <<<"$ERR" && no_new_vm "$H1" Web01; echo $?) \
	"deploy with a truncated .pdk: the host cannot read it, exit 2 at once"
run "$B" vmm deploy --dir "$V" --cloud Nope --name Web01 --template "$W/ws2016.tdisk" --pdk "$W/web.pdk"
ok $([ $RC -eq 1 ] && grep -q "no cloud 'Nope'" <<<"$ERR"; echo $?) "deploy into an unknown cloud exits 1"
run "$B" vmm deploy --dir "$V" --cloud Cloud1 --name 'bad/name' --template "$W/ws2016.tdisk" --pdk "$W/web.pdk"
ok $([ $RC -eq 2 ]; echo $?) "deploy of a bad VM name exits 2"
run "$B" vmm get-placement --dir "$V"
ok $([ $RC -eq 0 ] && grep -q "no VM placed yet" <<<"$OUT"; echo $?) "get-placement: nothing placed after the refusals"

# ---- the deploy: FabricHost2 skipped, Web01 on FabricHost1 ----
t0=$(date +%s.%N)
run "$B" vmm deploy --dir "$V" --cloud Cloud1 --name Web01 --template "$W/ws2016.tdisk" \
	--pdk "$W/web.pdk" --fsk "$W/web01.fsk" --json
ok $([ $RC -eq 0 ] && jq -e '.Name == "Web01" and .Cloud == "Cloud1" and .Host == "FabricHost1" and
	.State == "Running" and .ComputerName == "Web01" and .Policy == "shielded" and
	.Skipped == ["FabricHost2: InsecureHostConfiguration (DebugMode)"]' <<<"$OUT" >/dev/null; echo $?) \
	"deploy Web01 into Cloud1 ($(since "$t0") s): FabricHost2 skipped, placed and running on FabricHost1, computer name Web01"
[ $RC -eq 0 ] || sed 's/^/# /' <<<"$ERR" | tail -n 5
grep -E "skipped|provisioned in|placed on" <<<"$ERR" | sed 's/^/# /'
run "$B" host get-vm --dir "$H1" --name Web01 --json
ok $([ $RC -eq 0 ] && grep -q '"Running"' <<<"$OUT" && no_new_vm "$H2" Web01; echo $?) \
	"FabricHost1 runs Web01 (get-vm); nothing of it on FabricHost2"
run "$B" vmm get-placement --dir "$V" --name Web01 --json
ok $([ $RC -eq 0 ] && jq -e '.[0] | .Name == "Web01" and .Host == "FabricHost1" and .ComputerName == "Web01" and
	.Template == "WindowsServer2016 1.0.0.0" and (.Skipped | length) == 1' <<<"$OUT" >/dev/null &&
	jq -e '.placements[0].host_dir | endswith("/hosts/h1")' "$V/placements.json" >/dev/null; echo $?) \
	"get-placement: Web01 on FabricHost1 with the template and the host skipped (placements.json)"
run "$B" vmm get-placement --dir "$V"
ok $([ $RC -eq 0 ] && grep -qE "^Web01 +Cloud1 +FabricHost1 +Web01 " <<<"$OUT"; echo $?) "get-placement as a table"
run "$B" vmm deploy --dir "$V" --cloud Cloud1 --name Web01 --template "$W/ws2016.tdisk" --pdk "$W/web.pdk"
ok $([ $RC -eq 1 ] && grep -q "VM 'Web01' is already placed on host 'FabricHost1' (cloud 'Cloud1')" <<<"$ERR"; echo $?) \
	"a second deploy of Web01 is refused: it is placed already"
run "$B" vmm get-cloud --dir "$V" --name Cloud1
ok $([ $RC -eq 0 ] && grep -q "FabricHost1 Passed" <<<"$OUT"; echo $?) "get-cloud: FabricHost1 Passed"
"$B" vmm new-cloud --dir "$W/vmm2" --name Only1 --host "$H1" >/dev/null
run "$B" vmm deploy --dir "$W/vmm2" --cloud Only1 --name Web01 --template "$W/ws2016.tdisk" --pdk "$W/web.pdk"
ok $([ $RC -eq 4 ] && grep -q "FabricHost1: it has a VM named 'Web01' already" <<<"$ERR" &&
	[ "$(jq -r .state "$H1/vms/Web01/state.json")" = Running ]; echo $?) \
	"another controller's deploy of Web01 onto FabricHost1: skipped, the host has a VM of that name (exit 4); the running Web01 untouched"
leaks=$(grep -rlaF "$SECRET" "$W" 2>/dev/null)
ok $([ -z "$leaks" ]; echo $?) "the answer file's secret is in no file of the lab (hosts, HGS, the fabric controller, the tenant)"
[ -n "$leaks" ] && sed 's/^/# leak: /' <<<"$leaks"
run "$B" host stop-vm --dir "$H1" --name Web01
ok $([ $RC -eq 0 ] && [ -z "$(pgrep -f "$H1/vms/Web01")" ]; echo $?) "stop-vm Web01 on FabricHost1"
stop_bg HGS
ok $([ -z "$(lab_pids)" ]; echo $?) "no process of the lab is left"
