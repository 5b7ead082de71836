#!/usr/bin/env bash
# keycache.sh - key material caching from the outside (docs/key-caching.md):
# the HGS verbs get-/set-key-protection-configuration (exit codes, --json,
# the policy generation moving with the setting, a policy and a
# registration, and staying put otherwise), the host's clear-key-cache, the
# two outage scenarios of the library played by `hgslab run`, and the proof
# that the TPM is what refuses after a reboot with debug on: a lab left up
# after that reboot, whose cache entry is edited (its policy generation, PCR
# list and creation time) and whose profile file is set back to baseline
# without a reboot, still refuses the start, for the reason that the cache
# does not match the measured boot; cleared, it refuses for want of a cache.
# Runs against $HGSLAB and, when set, $HGSLAB_ASAN (named but not built: a
# failure).  Needs `make guest`.
. "$(dirname "$0")/lib.sh"

: "${HGSLAB_GUEST_DIR:=$ROOT/build/guest}"
export HGSLAB_GUEST_DIR
LIB="$ROOT/scenarios"

require jq openssl swtpm swtpm_setup qemu-system-x86_64
require_guest "$HGSLAB_GUEST_DIR"

# lab_procs DIR: processes whose command line names DIR (this shell excepted).
lab_procs() { pgrep -af "$1" | grep -v -e "^$$ " -e pgrep || true; }

cleanup() {
	local p
	for p in $(pgrep -f "$T" 2>/dev/null); do
		[ "$p" = "$$" ] || kill -KILL "$p" 2>/dev/null
	done
}
trap 'cleanup; rm -rf "$T"' EXIT

# gen BIN DIR: the policy generation of node DIR.
gen() { "$1" hgs get-key-protection-configuration --dir "$2" --json | jq -r .PolicyGeneration; }

# verbs BIN: the HGS and host verbs on a node and a host of their own.
verbs() {
	local B=$1 W="$T/verbs.$RANDOM" g0 g1 g2 g3
	mkdir -p "$W"
	run "$B" hgs init --dir "$W/hgs" --name MyHgsService --domain relecloud.com --trust tpm \
		--listen 127.0.0.1:0
	ok $RC "[$B] hgs init"
	run "$B" hgs get-key-protection-configuration --help
	ok $([ $RC -eq 0 ] && grep -q -- "--dir" <<<"$OUT"; echo $?) "get-key-protection-configuration --help"
	run "$B" hgs set-key-protection-configuration --help
	ok $([ $RC -eq 0 ] && grep -q -- "--allow-key-material-caching" <<<"$OUT" &&
		grep -q "AllowKeyMaterialCaching" <<<"$OUT"; echo $?) "set-key-protection-configuration --help"
	run "$B" hgs get-key-protection-configuration --dir "$W/hgs"
	ok $([ $RC -eq 0 ] && grep -q "^AllowKeyMaterialCaching False" <<<"$OUT" &&
		grep -Eq "^PolicyGeneration +[0-9A-F]{16}$" <<<"$OUT"; echo $?) \
		"get: caching is off by default, a 16-digit policy generation"
	g0=$(gen "$B" "$W/hgs")
	ok $([ "$(gen "$B" "$W/hgs")" = "$g0" ]; echo $?) "the generation stays put while nothing changes"
	run "$B" hgs set-key-protection-configuration --dir "$W/hgs" --allow-key-material-caching on --json
	ok $([ $RC -eq 0 ] && jq -e '.AllowKeyMaterialCaching == true and (.PolicyGeneration | length == 16)' \
		<<<"$OUT" >/dev/null; echo $?) "set on: AllowKeyMaterialCaching true (JSON)"
	g1=$(jq -r .PolicyGeneration <<<"$OUT")
	ok $([ "$g1" != "$g0" ] && [ "$(gen "$B" "$W/hgs")" = "$g1" ]; echo $?) \
		"switching caching moves the generation; get shows the stored setting"
	run "$B" hgs get-key-protection-configuration --dir "$W/hgs" --json
	ok $([ $RC -eq 0 ] && jq -e '.AllowKeyMaterialCaching == true' <<<"$OUT" >/dev/null; echo $?) \
		"get --json after set on"
	run "$B" hgs disable-attestation-policy --dir "$W/hgs" --name Hgs_IommuEnabled
	g2=$(gen "$B" "$W/hgs")
	ok $([ $RC -eq 0 ] && [ "$g2" != "$g1" ]; echo $?) "a policy change moves the generation"
	openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$W/hk.key" 2>/dev/null &&
		openssl pkey -in "$W/hk.key" -pubout -out "$W/hk.pub" 2>/dev/null
	run "$B" hgs add-host-key --dir "$W/hgs" --name FabricHost9 --key "$W/hk.pub"
	g3=$(gen "$B" "$W/hgs")
	ok $([ $RC -eq 0 ] && [ "$g3" != "$g2" ]; echo $?) "a registration moves the generation"
	[ $RC -eq 0 ] || sed 's/^/# /' <<<"$ERR"
	run "$B" hgs set-key-protection-configuration --dir "$W/hgs" --allow-key-material-caching off
	ok $([ $RC -eq 0 ] && grep -q "^AllowKeyMaterialCaching False" <<<"$OUT" &&
		[ "$(gen "$B" "$W/hgs")" != "$g3" ]; echo $?) "set off (table), a new generation"
	run "$B" hgs set-key-protection-configuration --dir "$W/hgs" --allow-key-material-caching maybe
	ok $([ $RC -eq 2 ] && grep -q "give on or off" <<<"$ERR"; echo $?) "a bad value: exit 2"
	run "$B" hgs set-key-protection-configuration --dir "$W/hgs"
	ok $([ $RC -eq 2 ]; echo $?) "no --allow-key-material-caching: exit 2"
	run "$B" hgs get-key-protection-configuration --dir "$W/nothing"
	ok $([ $RC -eq 1 ]; echo $?) "not a node directory: exit 1"

	run "$B" host new --dir "$W/hosts/FabricHost1" --name FabricHost1 --domain fabrikam.com \
		--profile baseline
	ok $RC "[$B] host new"
	run "$B" host clear-key-cache --dir "$W/hosts/FabricHost1" --json
	ok $([ $RC -eq 0 ] && jq -e '.Removed == 0 and .Name == "FabricHost1"' <<<"$OUT" >/dev/null; echo $?) \
		"clear-key-cache on a host without a cache: nothing removed"
	run "$B" host clear-key-cache --dir "$W/hosts/FabricHost1" --name ../state.json
	ok $([ $RC -eq 2 ]; echo $?) "clear-key-cache --name that is no VM name: exit 2"
}
each_binary verbs

# ---- the library's two outage scenarios ----
for bin in "$HGSLAB" ${HGSLAB_ASAN:+"$HGSLAB_ASAN"}; do
	built "$bin" || continue
	run "$bin" run --workdir "$T/run.$RANDOM" --report tap "$LIB/hgs-outage-no-caching.yaml" \
		"$LIB/hgs-outage-caching.yaml"
	ok $([ $RC -eq 0 ] && ! grep -q "^not ok" <<<"$OUT" &&
		! grep -q "ERROR: AddressSanitizer\|runtime error" <<<"$ERR$OUT"; echo $?) \
		"[$bin] hgs-outage-no-caching and hgs-outage-caching pass"
	[ $RC -eq 0 ] || grep "not ok" <<<"$OUT" | sed 's/^/# /'
done

# ---- the TPM refuses, not a file ----
cat >"$T/proof.yaml" <<'EOF'
version: 1
name: keycache-proof
description: cache a key, lose HGS, reboot with debug on
hgs: { name: MyHgsService, domain: relecloud.com, nodes: 1, trust: tpm }
hosts:
  - { name: FabricHost1, profile: baseline }
tenant:
  guardians: [Owner]
  vms:
    - { name: ShieldedVM1, owner: Owner, guardians: [MyHgsService], policy: shielded }
steps:
  - register: { host: FabricHost1 }
  - attest: { host: FabricHost1, expect: Passed }
  - key_caching: true
  - shield: { vm: ShieldedVM1 }
  - start: { vm: ShieldedVM1, host: FabricHost1 }
  - stop: { vm: ShieldedVM1 }
  - kill: { component: hgs, restart: false }
  - reboot_host: { host: FabricHost1, profile: "baseline,debug=on" }
  - start: { vm: ShieldedVM1, host: FabricHost1, expect: refused, reason: "does not match the measured boot" }
EOF
B=$HGSLAB
run "$B" up --workdir "$T/up" --no-dashboard --play "$T/proof.yaml"
ok $RC "up --play: a VM cached, HGS down, the host rebooted with debug on"
[ $RC -eq 0 ] || tail -n 5 <<<"$OUT$ERR" | sed 's/^/# /'
H=$(jq -r '.Hosts[0].Dir' "$T/up/lab.json" 2>/dev/null)
E="$H/keycache/ShieldedVM1"
ok $([ -f "$E" ] && [ "$(stat -c %a "$E")" = 600 ] && [ "$(stat -c %a "$H/keycache")" = 700 ] &&
	jq -e '(.Public | length > 0) and (.Private | length > 0) and .Pcrs == [0,1,2,3,4,5,6,7,11,12,13,14]' \
	"$E" >/dev/null; echo $?) "the entry: 0600 in a 0700 folder, sealed blobs, PCRs 0-7 and 11-14"
# the entry says whatever an attacker likes; the profile file says baseline again (no reboot)
jq -c '.PolicyGeneration = "0000000000000000" | .Pcrs = [23] | .Created = 0' "$E" >"$T/e" && cat "$T/e" >"$E"
run "$B" host set-profile --dir "$H" --profile baseline
run "$B" host start-vm --dir "$H" --name ShieldedVM1 --json
ok $([ $RC -eq 4 ] && jq -e '.State == "Refused" and (.Reason | test("TransientError")) and
	(.Reason | test("does not match the measured boot")) and (.Reason | test("refused to unseal"))' \
	<<<"$OUT" >/dev/null; echo $?) \
	"an edited entry and a profile file set back do not open it: the TPM refuses (exit 4, TransientError)"
[ $RC -eq 4 ] || sed 's/^/# /' <<<"$OUT$ERR"
run "$B" host clear-key-cache --dir "$H" --json
ok $([ $RC -eq 0 ] && jq -e '.Removed == 1' <<<"$OUT" >/dev/null && [ ! -e "$E" ]; echo $?) \
	"clear-key-cache removes the entry"
run "$B" host start-vm --dir "$H" --name ShieldedVM1
ok $([ $RC -eq 4 ] && grep -q "TransientError" <<<"$ERR" &&
	grep -q "holds no cached key material for VM 'ShieldedVM1'" <<<"$ERR"; echo $?) \
	"without the entry: refused for want of a cache"
run "$B" down --workdir "$T/up"
ok $([ $RC -eq 0 ] && [ -z "$(lab_procs "$T/up")" ]; echo $?) "down: every process of the lab stopped"

ok $([ -z "$(lab_procs "$T")" ]; echo $?) "no process of this test is left"
done_testing
