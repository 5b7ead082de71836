#!/usr/bin/env bash
# diagnose.sh - `hgslab diagnose` against running fabrics (docs/diagnose.md):
# for each tampered-boot scenario of the library the fabric is brought up
# with `hgslab up --play` of the scenario's steps up to the attestation that
# fails, and diagnose must name the cause (the sub-status and its Hgs_*
# policy, the PCR difference for a firmware update) and the remedy that
# docs/diagnose.md documents for that sub-status (read from the doc's table
# here, as exitcodes.sh reads the README's); the doc's table must be the
# binary's (--remedies).  Also: a healthy host is Pass, an HGS killed is a
# Fail with a remedy, --json has PascalCase keys, exit codes 0 / 4 / 2.
. "$(dirname "$0")/lib.sh"

require jq awk
B=$HGSLAB
built "$B" || exit 1
DOC="$ROOT/docs/diagnose.md"
NO=$(awk -F'|' 'index($3, "check said no") && $2 ~ /^ *[0-9]+ *$/ { gsub(/ /, "", $2); print $2; exit }' "$ROOT/README.md")

# doc_remedy KIND NAME: the remedy docs/diagnose.md gives NAME of KIND.
doc_remedy() {
	awk -F' [|] ' -v k="$1" -v n="$2" '$1 == "| " k && $2 == n { sub(/ [|]$/, "", $3); print $3; exit }' "$DOC"
}

# ---- the doc's table is the binary's ----
run "$B" diagnose --remedies --json
ok $([ "$RC" = 0 ] && pascal_keys <<<"$OUT"; echo $?) "diagnose --remedies --json: PascalCase keys"
rows=$(jq -r '.[] | "| \(.Kind) | \(.Name) | \(.Remedy) |"' <<<"$OUT")
missing=$(while IFS= read -r r; do grep -qxF -- "$r" "$DOC" || echo "$r"; done <<<"$rows")
ok $([ -n "$rows" ] && [ -z "$missing" ]; echo $?) "docs/diagnose.md has every remedy row of the binary"
[ -z "$missing" ] || sed 's/^/# missing: /' <<<"$missing" | head -n5
ndoc=$(grep -cE '^\| (AttestationStatus|AttestationSubStatus|KPS reason) \|' "$DOC")
ok $([ "$ndoc" = "$(jq length <<<"$OUT")" ]; echo $?) "docs/diagnose.md has no other remedy row ($ndoc)"

# ---- every tampered-boot scenario ----
# substatus -> the Hgs_* policy that fails with it
declare -A POLICY=([DebugMode]=Hgs_UefiDebugDisabled [SecureBootSettings]=Hgs_SecureBootSettings
	[HypervisorEnforcedCodeIntegrityPolicy]=Hgs_HypervisorEnforcedCiPolicy [Iommu]=Hgs_IommuEnabled
	[FullBoot]=Hgs_FullBoot [SecureBoot]=Hgs_SecureBootEnabled [CodeIntegrityPolicy]=Hgs_CiPolicy
	[VirtualSecureMode]=Hgs_VsmIdkPresent)
n=0
for f in "$ROOT"/scenarios/tampered-*.yaml; do
	name=$(basename "$f" .yaml)
	n=$((n + 1))
	W="$T/$name"
	# the steps up to the attestation that fails
	awk '{ print } /expect: InsecureHostConfiguration/ { exit }' "$f" >"$T/$name.yaml"
	sub=$(sed -n 's/.*expect: InsecureHostConfiguration, substatus: \[\([A-Za-z]*\)\].*/\1/p' "$T/$name.yaml")
	run "$B" up --play -w "$W" "$T/$name.yaml"
	ok $([ "$RC" = 0 ] && [ -n "$sub" ]; echo $?) "$name: up --play to the failing attestation ($sub)"
	[ "$RC" = 0 ] || sed 's/^/# /' <<<"$ERR" | tail -n3
	run "$B" diagnose --workdir "$W"
	remedy=$(doc_remedy AttestationSubStatus "$sub")
	ok $([ "$RC" = "$NO" ]; echo $?) "$name: diagnose exits $NO (got $RC)"
	ok $(grep -qE "^  Fail +Attestation +InsecureHostConfiguration \(.*$sub" <<<"$OUT" &&
		grep -qE "^  Fail +${POLICY[$sub]:-none} +InsecureHostConfiguration \($sub\)" <<<"$OUT"; echo $?) \
		"$name: names the cause: $sub, ${POLICY[$sub]:-?} fails"
	ok $([ -n "$remedy" ] && grep -qF "remedy: $remedy." <<<"$OUT"; echo $?) \
		"$name: gives the documented remedy of $sub"
	[ "$RC" = "$NO" ] && grep -qF "remedy: $remedy." <<<"$OUT" || sed 's/^/# /' <<<"$OUT" | head -n30
	case $name in
	tampered-firmware-update)
		ok $(grep -qE "PCR 0 differs: event [0-9]+ EV_EFI_PLATFORM_FIRMWARE_BLOB changed: a firmware update; register a new baseline" <<<"$OUT"; echo $?) \
			"$name: the baseline difference names the firmware blob of PCR 0";;
	tampered-secure-boot-off)
		ok $(grep -qE "PCR 7 differs: event [0-9]+ EV_EFI_VARIABLE_DRIVER_CONFIG changed: Secure Boot was turned on or off" <<<"$OUT"; echo $?) \
			"$name: the baseline difference names the SecureBoot variable of PCR 7";;
	*)
		ok $(grep -qE "^  Pass +Baseline +PCRs 0-7 match baseline" <<<"$OUT"; echo $?) \
			"$name: PCRs 0-7 still match the baseline";;
	esac
	if [ "$n" = 1 ]; then
		# --json of a failing fabric
		run "$B" diagnose --workdir "$W" --json
		ok $([ "$RC" = "$NO" ] && pascal_keys <<<"$OUT" &&
			[ "$(jq -r '.Verdict' <<<"$OUT")" = Fail ] &&
			jq -e --arg r "$remedy" '[.Components[].Checks[] | select(.Remedy == $r)] | length > 0' <<<"$OUT" >/dev/null; echo $?) \
			"$name: --json: PascalCase, Verdict Fail, the remedy"
		# HGS killed: unreachable, a Fail with a remedy
		pid=$(jq -r '.Hgs[0].Pid' "$W/lab.json")
		kill "$pid" 2>/dev/null
		for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
		run "$B" diagnose --workdir "$W"
		ok $([ "$RC" = "$NO" ] && grep -qE "^  Fail +Reachable +" <<<"$OUT" &&
			grep -A1 -E "^  Fail +Reachable" <<<"$OUT" | grep -q "remedy: Start HGS"; echo $?) \
			"an HGS killed: Reachable is a Fail with a remedy, exit $NO"
		# the same fabric named by directories
		run "$B" diagnose --hgs "$(jq -r '.Hgs[0].Dir' "$W/lab.json")" --host "$(jq -r '.Hosts[0].Dir' "$W/lab.json")"
		ok $([ "$RC" = "$NO" ] && grep -q "^HGS MyHgsService" <<<"$OUT" && grep -q "^Host FabricHost1" <<<"$OUT"; echo $?) \
			"--hgs DIR --host DIR diagnose the same fabric"
	fi
	"$B" down -w "$W" >/dev/null 2>&1
done
# ---- a healthy host: register and attest only ----
W="$T/healthy"
awk '{ print } /expect: Passed/ { exit }' "$ROOT/scenarios/tampered-debug.yaml" >"$T/healthy.yaml"
run "$B" up --play -w "$W" "$T/healthy.yaml"
ok $RC "healthy: up --play to the first Passed attestation"
run "$B" diagnose --workdir "$W"
ok $([ "$RC" = 0 ] && grep -qE "^Host FabricHost1 .*: Pass$" <<<"$OUT" && grep -qE "^HGS MyHgsService .*: Pass$" <<<"$OUT" &&
	! grep -q "remedy:" <<<"$OUT"; echo $?) "a healthy fabric is Pass, no remedy, exit 0 (got $RC)"
[ "$RC" = 0 ] || sed 's/^/# /' <<<"$OUT" | grep -v "^#   Pass" | head -n20
run "$B" diagnose --workdir "$W" --json
ok $([ "$RC" = 0 ] && pascal_keys <<<"$OUT" && [ "$(jq -r .Verdict <<<"$OUT")" = Pass ]; echo $?) \
	"healthy: --json PascalCase, Verdict Pass"
# a key protector of another fabric: KPS refuses it (GuardianNotListed); the host's last key release
# is then a Warning with the remedy docs/diagnose.md gives that reason
TEN="$T/ten"
{
	"$B" tenant new-guardian --dir "$TEN" --name Owner &&
	"$B" tenant new-guardian --dir "$TEN" --name Other &&
	"$B" tenant new-key-protector --dir "$TEN" --owner Owner --guardian Other --out "$T/other.kp"
} >/dev/null 2>&1
run "$B" host unwrap-key-protector --dir "$(jq -r '.Hosts[0].Dir' "$W/lab.json")" --key-protector "$T/other.kp"
ok $([ "$RC" = "$NO" ]; echo $?) "healthy: KPS refuses a key protector of another fabric (got $RC)"
run "$B" diagnose --workdir "$W"
remedy=$(doc_remedy "KPS reason" GuardianNotListed)
ok $([ "$RC" = 0 ] && grep -qE "^  Warning +Last key release +KPS refused it at .*: GuardianNotListed: " <<<"$OUT" &&
	[ -n "$remedy" ] && grep -qF "remedy: $remedy." <<<"$OUT"; echo $?) \
	"the refused key release: a Warning with the documented GuardianNotListed remedy, exit 0"
[ "$RC" = 0 ] || sed 's/^/# /' <<<"$OUT" | grep -v "^#   Pass" | head -n20
# the HGS clock moved: a Warning a minute off, a Fail ten minutes off
HGSDIR=$(jq -r '.Hgs[0].Dir' "$W/lab.json")
echo 60 >"$HGSDIR/clock-offset"
run "$B" diagnose --workdir "$W"
ok $([ "$RC" = 0 ] && grep -qE "^  Warning +Clock +HGS's clock is 60 s ahead of the hosts'" <<<"$OUT"; echo $?) \
	"the HGS clock 60 s ahead: a Clock Warning, exit 0"
echo -600 >"$HGSDIR/clock-offset"
run "$B" diagnose --workdir "$W" --json
ok $([ "$RC" = "$NO" ] && jq -e '.Components[] | select(.Kind == "HGS") | .Checks[] |
	select(.Name == "Clock" and .Verdict == "Fail" and (.Remedy | test("clock-offset")))' <<<"$OUT" >/dev/null; echo $?) \
	"the HGS clock 600 s behind: a Clock Fail with a remedy, exit $NO"
rm -f "$HGSDIR/clock-offset"
# the baseline removed since the host passed: its current boot fails, its last attestation said Passed
"$B" hgs remove-tpm-policy --dir "$(jq -r '.Hgs[0].Dir' "$W/lab.json")" --name Baseline-FabricHost1 >/dev/null 2>&1
run "$B" diagnose --workdir "$W"
ok $([ "$RC" = "$NO" ] && grep -qE "^  Warning +Last attestation +the host's last attestation said Passed, its current boot gives InsecureHostConfiguration \(SecureBootSettings" <<<"$OUT" &&
	grep -qE "^  Fail +Baseline +no TPM baseline is registered" <<<"$OUT" &&
	grep -qE "^  Fail +Baselines +no TPM baseline is registered" <<<"$OUT"; echo $?) \
	"the baseline removed: HGS and host Fail on baselines, the last attestation (Passed) a Warning"
[ "$RC" = "$NO" ] || sed 's/^/# /' <<<"$OUT" | head -n30
"$B" down -w "$W" >/dev/null 2>&1

# ---- AD mode: the host's groups, read from the fabric DC, against the registered host groups ----
W="$T/ad"
run "$B" up --play -w "$W" "$ROOT/scenarios/ad-mode.yaml"
ok $RC "ad-mode: up --play"
run "$B" diagnose --workdir "$W"
ok $([ "$RC" = "$NO" ] && grep -q "^DC dc01 .*: Pass$" <<<"$OUT" &&
	grep -qE "^  Pass +Registration +member of GuardedHosts \(S-1-5-21-[0-9-]+\), registered as host group" <<<"$OUT" &&
	grep -qE "^  Fail +Registration +none of its groups is a registered host group \(it is in: Domain Computers\)" <<<"$OUT"; echo $?) \
	"ad-mode: the DC runs; a host in GuardedHosts is registered, one only in Domain Computers is not"
"$B" down -w "$W" >/dev/null 2>&1

ok $([ "$n" = 8 ]; echo $?) "the library's 8 tampered-boot scenarios were diagnosed ($n)"

# ---- bad input ----
run "$B" diagnose --hgs "$T/nothing"
ok $([ "$RC" = 2 ] && grep -qF "$T/nothing" <<<"$ERR"; echo $?) "--hgs of a missing directory: exit 2 naming it"
run "$B" diagnose --workdir "$T/nolab"
ok $([ "$RC" = 2 ] && grep -qF "$T/nolab" <<<"$ERR"; echo $?) "--workdir without a lab: exit 2 naming it"
done_testing
