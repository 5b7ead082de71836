#!/usr/bin/env bash
# trace.sh - each exchange's trace (hgs/trace.h, docs/attestation-protocol.md
# "Exchange traces"), drawn from what happened, with real processes: the
# TPM-mode lab of tests/cli/lab.sh (an `hgs serve` node, FabricHost1 with the
# baseline boot and FabricHost2 with debug=on, both swtpm TPMs from the lab's
# vendor CA) and a tenant's key protector.
#
# Proves: a healthy host's attestation trace is the request, every check
# Passed in the order HGS makes them (nonce, registration, EK certificate,
# AK, quote, transport key, TCG log, each Hgs_* policy - the disabled one
# Skip), the health certificate whose thumbprint the log records, and the
# answer; the debug=on host's trace fails exactly the policies the log's
# SubStatus names (Hgs_UefiDebugDisabled, DebugMode, the Reason's phrase) and
# issues no certificate; a policy disabled with disable-attestation-policy is
# Skip; in host-key mode the checks are the nonce, the registered host key
# and the signature (an unregistered key fails HostKeyRegistered), in AD
# mode the trusted domain, the ticket, the signature and the host group (a
# computer outside the group fails HostGroup); a key
# release is all Pass up to the TK re-wrapped to the transport key, a KP
# that does not list this HGS fails GuardianListed (GuardianNotListed) and
# stops there; `--trace ID` prints the steps with ✓/✗ marks and --json the
# entry; an unknown Id exits 1.  No trace holds the TK, the KP's wrapped TK
# or a nonce in full.  With $HGSLAB_ASAN, the ASan `hgs serve` on the same
# node records a refused attestation and both key releases again, and the
# ASan CLI prints them.  Every process is stopped by pid at the end.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lab.sh"

require swtpm swtpm_setup openssl jq xxd od base64 curl

lab_pids() { pgrep -f "$T"; }

# last_att FILE: the last attestation log entry of node A (JSON) into FILE.
last_att() { "$B" hgs get-attestation-log --dir "$A" --last 1 --json | jq '.[-1]' >"$1"; }
# last_kps FILE: the last key protection log entry of node A into FILE.
last_kps() { "$B" hgs get-key-protection-log --dir "$A" --last 1 --json | jq '.[-1]' >"$1"; }
# checks FILE: the Check names of the trace in FILE, one line, space-separated.
checks() { jq -r '[.Trace.Steps[] | select(.Kind == "Check") | .Check] | join(" ")' "$1"; }
# show FILE: print the entry's trace as TAP comments (for a failed case).
show() { jq -c '.Trace.Steps[]' "$1" | cut -c1-200 | sed 's/^/# /'; }

# point_hosts URL RESOLVE: both hosts attest with and ask keys of the HGS at URL.
point_hosts() {
	local h
	for h in "$H1" "$H2"; do
		"$B" host set-client-configuration --dir "$h" --attestation-url "$1/Attestation" \
			--key-protection-url "$1/KeyProtection" --resolve "$2" >/dev/null
	done
}

lab_tpm "$HGSLAB" "$T/lab"
TEN="$W/tenant" KP="$W/vm1.kp"
lab_tenant "$TEN" "$KP"
TK=$(kp_open "$KP" 0 "$TEN/guardians/Owner/encryption.key")
WRAPPED=$(kp_body "$KP" | jq -r '.guardians[1].wrapped_tk' | base64 -d | xxd -p -c 4096)
ok $([ ${#TK} -eq 64 ] && [ ${#WRAPPED} -gt 256 ]; echo $?) \
	"the test's copies of the TK (openssl) and of the KP's entry wrapped to this HGS"
POLICIES=$("$B" hgs get-attestation-policy --dir "$A" --json | jq -r '[.[].Name] | join(" ")')
DISABLED=$("$B" hgs get-attestation-policy --dir "$A" --json |
	jq -r '[.[] | select(.PolicyState == "Disabled") | .Name] | join(" ")')
ok $([ "$(wc -w <<<"$POLICIES")" -eq 14 ] && [ "$DISABLED" = Hgs_BitLockerEnabled ]; echo $?) \
	"the node's 14 policies; Hgs_BitLockerEnabled is disabled by default"
TPM_CHECKS="Nonce Registration EkCertificate AkPinned QuoteSignature QuotePcrSelection TransportKey TcgLogReplay TcgLogMatchesQuote $POLICIES HealthCertificate"
mark "lab ready"

# ---- a healthy host ----
run "$B" host test-client-configuration --dir "$H1"
ok $([ $RC -eq 0 ] && [ "$(field AttestationStatus)" = Passed ]; echo $?) "FabricHost1 attests: Passed"
last_att "$T/pass.json"
ID=$(jq -r .Id "$T/pass.json")
ok $(jq -e '.Host == "FabricHost1" and .Status == "Passed" and .Trace.Kind == "Attestation" and
	.Trace.Participants == ["Host", "HGS"] and
	(.Trace.Steps[0] | .Kind == "Message" and .From == "Host" and .To == "HGS" and
		(.Label | startswith("POST /Attestation/v1/tpm/attest: host '"'FabricHost1'"': AK, quote"))) and
	(.Trace.Steps[-1] | .Kind == "Message" and .From == "HGS" and .To == "Host" and .Label == "Passed") and
	([.Trace.Steps[] | select(.Kind == "Check") | .From == "HGS" and .To == "HGS"] | all) and
	(.Trace.Steps | length) < 64' "$T/pass.json" >/dev/null; echo $?) \
	"the trace: Host -> HGS request (what it carried), HGS checks, HGS -> Host 'Passed'"
ok $([ "$(checks "$T/pass.json")" = "$TPM_CHECKS" ]; echo $?) \
	"every check HGS makes, in order: nonce, registration, EK certificate, AK, quote, TK, TCG log, the 14 policies, certificate"
[ "$(checks "$T/pass.json")" = "$TPM_CHECKS" ] || echo "# checks: $(checks "$T/pass.json")"
ok $(jq -e '[.Trace.Steps[] | select(.Kind == "Check") |
	select(.Verdict != "Pass") | [.Check, .Verdict]] == [["Hgs_BitLockerEnabled", "Skip"]]' "$T/pass.json" >/dev/null; echo $?) \
	"all Pass; the one disabled policy (Hgs_BitLockerEnabled) Skip"
THUMB=$(jq -r .HealthCertificate "$T/pass.json")
ok $(jq -e --arg t "${THUMB:0:16}" '.Trace.Steps[-2] | .Check == "HealthCertificate" and .Verdict == "Pass" and
	(.Detail | startswith("thumbprint " + $t))' "$T/pass.json" >/dev/null; echo $?) \
	"it ends with the health certificate issued (thumbprint ${THUMB:0:16}..., as the log's HealthCertificate)"
ok $(jq -e '[.Trace.Steps[] | select(.Check == "Hgs_SecureBootSettings" or .Check == "Hgs_CiPolicy") | .Detail] ==
	["matches '"'Baseline'"'", "matches '"'HgsLabDefault'"'"]' "$T/pass.json" >/dev/null; echo $?) \
	"the baseline and CI policy checks name the registration they matched"
ok $(jq -e '.Trace.Steps[1] | .Check == "Nonce" and
	(.Detail | test("^nonce [0-9A-F]{8}\\.\\.\\. \\(32 bytes\\), now used up$"))' "$T/pass.json" >/dev/null; echo $?) \
	"the nonce check shows the nonce's first 4 bytes only"

run "$B" hgs get-attestation-log --dir "$A" --trace "$ID"
ok $([ $RC -eq 0 ] && grep -q "^Attestation $ID, .*, host 'FabricHost1': Passed$" <<<"$OUT" &&
	grep -q "^Host → HGS: POST /Attestation/v1/tpm/attest" <<<"$OUT" &&
	grep -qE "^  ✓ Hgs_UefiDebugDisabled +no firmware, boot or kernel debugging" <<<"$OUT" &&
	grep -qE "^  – Hgs_BitLockerEnabled " <<<"$OUT" && ! grep -q "✗" <<<"$OUT" &&
	[ "$(tail -n1 <<<"$OUT")" = "HGS → Host: Passed" ]; echo $?) \
	"get-attestation-log --trace $ID: the steps with ✓ and – marks, request and answer"
[ $RC -eq 0 ] || sed 's/^/# /' <<<"$OUT$ERR"
run "$B" hgs get-attestation-log --dir "$A" --trace "$ID" --json
ok $([ $RC -eq 0 ] && jq -e --argjson id "$ID" '.Id == $id and .Trace.Kind == "Attestation"' <<<"$OUT" >/dev/null &&
	pascal_keys <<<"$OUT"; echo $?) "--trace $ID --json: the entry with its Trace, PascalCase keys"
run "$B" hgs get-attestation-log --dir "$A" --trace 99999
ok $([ $RC -eq 1 ] && grep -q "no entry with Id 99999" <<<"$ERR"; echo $?) "--trace of an unknown Id: exit 1"
run "$B" hgs get-attestation-log --dir "$A" --trace -3
ok $([ $RC -eq 2 ]; echo $?) "--trace -3: exit 2"
mark "healthy host"

# ---- a host booted with debug on ----
run "$B" host test-client-configuration --dir "$H2"
ok $([ $RC -eq 4 ] && [ "$(field AttestationStatus)" = InsecureHostConfiguration ]; echo $?) \
	"FabricHost2 (debug=on): InsecureHostConfiguration"
last_att "$T/debug.json"
ID2=$(jq -r .Id "$T/debug.json")
ok $(jq -e '.SubStatus == ["DebugMode"] and
	[.Trace.Steps[] | select(.Verdict == "Fail") | .Check] == ["Hgs_UefiDebugDisabled"]' "$T/debug.json" >/dev/null; echo $?) \
	"its trace fails Hgs_UefiDebugDisabled, the one policy of the log's SubStatus (DebugMode)"
PHRASE=$(jq -r '.Trace.Steps[] | select(.Verdict == "Fail") | .Detail' "$T/debug.json")
REASON=$(jq -r .Reason "$T/debug.json")
ok $([[ "$PHRASE" == "DebugMode: "* ]] && [ -n "${PHRASE#DebugMode: }" ] &&
	[[ "$REASON" == *"${PHRASE#DebugMode: }"* ]]; echo $?) \
	"the failed check's detail is the log's sub-status and Reason ($PHRASE)"
ok $(jq -e '([.Trace.Steps[] | select(.Check == "HealthCertificate")] | length) == 0 and
	.HealthCertificate == null and .Trace.Steps[-1].Label == "InsecureHostConfiguration (DebugMode)" and
	.Trace.Steps[-1].Detail == .Reason and
	([.Trace.Steps[] | select(.Kind == "Check" and .Check != "Hgs_UefiDebugDisabled") | .Verdict] |
		all(. == "Pass" or . == "Skip"))' "$T/debug.json" >/dev/null; echo $?) \
	"no health certificate; the answer is InsecureHostConfiguration (DebugMode) with the Reason; the other checks Pass"
run "$B" hgs get-attestation-log --dir "$A" --trace "$ID2"
ok $([ $RC -eq 0 ] && grep -q "host 'FabricHost2': InsecureHostConfiguration (DebugMode)$" <<<"$OUT" &&
	grep -qE "^  ✗ Hgs_UefiDebugDisabled " <<<"$OUT" && grep -q "^      DebugMode: " <<<"$OUT" &&
	[ "$(tail -n2 <<<"$OUT" | head -n1)" = "HGS → Host: InsecureHostConfiguration (DebugMode)" ]; echo $?) \
	"--trace $ID2: ✗ Hgs_UefiDebugDisabled with its detail below"
[ $RC -eq 0 ] || sed 's/^/# /' <<<"$OUT$ERR"

# ---- a policy disabled ----
run "$B" hgs disable-attestation-policy --dir "$A" --name Hgs_IommuEnabled
ok $RC "disable-attestation-policy Hgs_IommuEnabled"
run "$B" host test-client-configuration --dir "$H1"
last_att "$T/skip.json"
ok $([ $RC -eq 0 ] && jq -e '.Status == "Passed" and
	([.Trace.Steps[] | select(.Verdict == "Skip") | .Check] == ["Hgs_BitLockerEnabled", "Hgs_IommuEnabled"]) and
	(.Trace.Steps[] | select(.Check == "Hgs_IommuEnabled") | .Detail == "disabled on this HGS")' "$T/skip.json" >/dev/null; echo $?) \
	"after it, FabricHost1's trace shows Hgs_IommuEnabled Skip (disabled on this HGS)"
"$B" hgs enable-attestation-policy --dir "$A" --name Hgs_IommuEnabled >/dev/null
mark "policies"

# ---- key release ----
run "$B" host unwrap-key-protector --dir "$H1" --key-protector "$KP"
ok $RC "FabricHost1 unwraps the KP"
last_kps "$T/released.json"
KID=$(jq -r .Id "$T/released.json")
ok $(jq -e '.Result == "Released" and .Trace.Kind == "KeyRelease" and .Trace.Participants == ["Host", "KPS"] and
	(.Trace.Steps[0] | .From == "Host" and .To == "KPS" and
		(.Label | test("^POST /KeyProtection/v1/release: key protector \\([0-9]+ bytes\\), health certificate$"))) and
	(.Trace.Steps[-1] | .From == "KPS" and .To == "Host" and (.Label | startswith("200 Released")))' \
	"$T/released.json" >/dev/null; echo $?) "the release's trace: Host -> KPS key protector + health certificate, KPS -> Host 200 Released"
KPS_CHECKS="HealthCertificate AttestationSigner AttestationStatus Validity IssuedAfterCutoff TransportKey KeyProtector OwnerSignature GuardianListed TkUnwrap TkRewrap"
ok $([ "$(checks "$T/released.json")" = "$KPS_CHECKS" ] && jq -e '[.Trace.Steps[] | select(.Kind == "Check") |
	select(.Verdict != "Pass") | [.Check, .Verdict]] == [["IssuedAfterCutoff", "Skip"]]' "$T/released.json" >/dev/null; echo $?) \
	"all Pass in order: certificate signer, status, validity, TK binding, KP, owner signature, guardian, unwrap, re-wrap (no cut-off: Skip)"
[ "$(checks "$T/released.json")" = "$KPS_CHECKS" ] || show "$T/released.json"
TKFP=$(jq -r '.Trace.Steps[] | select(.Check == "TkRewrap") | .Detail' "$T/released.json")
ok $(grep -q "RSA-OAEP-SHA256, label HGSLAB-TK, to transport key [0-9A-F]\{16\}\.\.\." <<<"$TKFP"; echo $?) \
	"TkRewrap names the transport key from the health certificate ($TKFP)"

run "$B" tenant new-key-protector --dir "$TEN" --owner Owner --out "$W/owner-only.kp"
run "$B" host unwrap-key-protector --dir "$H1" --key-protector "$W/owner-only.kp"
last_kps "$T/notlisted.json"
KID2=$(jq -r .Id "$T/notlisted.json")
ok $([ $RC -eq 4 ] && jq -e '.Reason == "GuardianNotListed" and
	[.Trace.Steps[] | select(.Verdict == "Fail") | .Check] == ["GuardianListed"] and
	(.Trace.Steps[-2] | .Check == "GuardianListed" and (.Detail | contains("does not list this HGS"))) and
	.Trace.Steps[-1].Label == "403 GuardianNotListed"' "$T/notlisted.json" >/dev/null; echo $?) \
	"a KP that does not list this HGS: GuardianListed Fail, then 403 GuardianNotListed (nothing unwrapped)"
run "$B" hgs get-key-protection-log --dir "$A" --trace "$KID2"
ok $([ $RC -eq 0 ] && grep -q "^Key release $KID2, .*host 'FabricHost1': Refused GuardianNotListed$" <<<"$OUT" &&
	grep -qE "^  ✗ GuardianListed +the key protector lists this HGS's guardian" <<<"$OUT" &&
	grep -q "^Host → KPS: POST /KeyProtection/v1/release" <<<"$OUT" &&
	grep -q "^KPS → Host: 403 GuardianNotListed$" <<<"$OUT"; echo $?) \
	"get-key-protection-log --trace $KID2: ✗ GuardianListed, KPS → Host 403"
[ $RC -eq 0 ] || sed 's/^/# /' <<<"$OUT$ERR"
run "$B" hgs get-key-protection-log --dir "$A" --trace "$KID"
ok $([ $RC -eq 0 ] && grep -qE "^  ✓ TkRewrap " <<<"$OUT" && ! grep -q "✗" <<<"$OUT"; echo $?) \
	"get-key-protection-log --trace $KID: ✓ up to TkRewrap"
mark "key release"

# ---- host-key mode on the same node ----
run "$B" hgs set-server --dir "$A" --trust hostkey
ok $RC "set-server --trust hostkey"
"$B" host get-host-key --dir "$H1" --out "$W/h1.hostkey.pem" >/dev/null
run "$B" hgs add-host-key --dir "$A" --name FabricHost1 --key "$W/h1.hostkey.pem"
ok $RC "add-host-key FabricHost1"
run "$B" host test-client-configuration --dir "$H1"
last_att "$T/hk.json"
ok $([ $RC -eq 0 ] && [ "$(checks "$T/hk.json")" = "Nonce HostKeyRegistered Signature HealthCertificate" ] &&
	jq -e '.Mode == "hostkey" and ([.Trace.Steps[] | select(.Kind == "Check") | .Verdict] | all(. == "Pass")) and
	(.Trace.Steps[0].Label | startswith("POST /Attestation/v1/hostkey/attest: host '"'FabricHost1'"'"))' \
	"$T/hk.json" >/dev/null; echo $?) "host-key mode: nonce, registered host key, signature, certificate, all Pass"
run "$B" host test-client-configuration --dir "$H2"
last_att "$T/hk2.json"
ok $([ $RC -eq 4 ] && jq -e '[.Trace.Steps[] | select(.Kind == "Check") | [.Check, .Verdict]] ==
	[["Nonce", "Pass"], ["HostKeyRegistered", "Fail"]] and .Trace.Steps[-1].Label == "UnauthorizedHost"' \
	"$T/hk2.json" >/dev/null; echo $?) "an unregistered host key: HostKeyRegistered Fail, UnauthorizedHost"
# a request of our own (curl), so that the test knows the nonce: it must not be in the trace whole
NONCE_B64=$(curl -s --resolve "$RESOLVE" -X POST "$URL/Attestation/v1/nonce" | jq -r .nonce)
NONCE=$(base64 -d <<<"$NONCE_B64" | xxd -p -c 64)
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$T/k.pem" 2>/dev/null
openssl pkey -in "$T/k.pem" -pubout -out "$T/k.pub" 2>/dev/null
code=$(jq -cn --arg n "$NONCE_B64" --rawfile k "$T/k.pub" '{host: "FabricHost9", nonce: $n, host_key: $k,
	transport_key: $k, signature: "AAAA"}' | curl -s -o /dev/null -w '%{http_code}' --resolve "$RESOLVE" \
	-H 'Content-Type: application/json' --data-binary @- "$URL/Attestation/v1/hostkey/attest")
last_att "$T/hk3.json"
ok $([ "$code" = 200 ] && [ ${#NONCE} -eq 64 ] && jq -e --arg n "${NONCE:0:8}" '.Host == "FabricHost9" and
	(.Trace.Steps[1] | .Check == "Nonce" and .Verdict == "Pass" and
		(.Detail | ascii_downcase | startswith("nonce " + $n + "...")))' "$T/hk3.json" >/dev/null &&
	! holds "$T/hk3.json" "$NONCE" && ! holds "$T/hk3.json" "${NONCE:8}"; echo $?) \
	"a request with a nonce the test knows: the trace shows its first 4 bytes (${NONCE:0:8}), never the rest"
mark "host-key mode"

# ---- AD mode on the same node: the fabric's DC issues the tickets ----
F="$W/fabric" DC_ADDR=$NET.4
"$B" host get-host-key --dir "$H2" --out "$W/h2.hostkey.pem" >/dev/null
"$B" fabric new --dir "$F" --domain fabrikam.com --listen "$DC_ADDR:0" >/dev/null &&
	"$B" fabric add-group --dir "$F" --name GuardedHosts >/dev/null &&
	"$B" fabric add-computer --dir "$F" --name FabricHost1 --key "$W/h1.hostkey.pem" >/dev/null &&
	"$B" fabric add-computer --dir "$F" --name FabricHost2 --key "$W/h2.hostkey.pem" >/dev/null &&
	"$B" fabric add-group-member --dir "$F" --group GuardedHosts --computer FabricHost1 >/dev/null &&
	"$B" fabric export-trust --dir "$F" --out "$W/trust.json" >/dev/null
ok $? "fabric fabrikam.com: GuardedHosts holds FabricHost1 only; its trust exported"
SID=$("$B" fabric get-group --dir "$F" --name GuardedHosts --json | jq -r '.. | .Sid? // empty' | head -n1)
start_bg DC "$B" fabric serve --dir "$F"
next_line DC
DCURL=$(sed -n 's/^fabric: DC for fabrikam.com serving on \(http:[^ ]*\)$/\1/p' <<<"$LINE")
ok $([ -n "$DCURL" ] && [ -n "$SID" ]; echo $?) "the DC serves ($LINE)"
"$B" hgs set-server --dir "$A" --trust ad >/dev/null &&
	"$B" hgs add-trusted-domain --dir "$A" --file "$W/trust.json" >/dev/null &&
	"$B" hgs add-host-group --dir "$A" --name GuardedHosts --sid "$SID" >/dev/null
ok $? "the node in AD mode: fabrikam.com trusted, GuardedHosts registered"
for h in "$H1" "$H2"; do
	"$B" host set-client-configuration --dir "$h" --attestation-url "$URL/Attestation" \
		--key-protection-url "$KPURL" --dc-url "http://dc01.fabrikam.com:${DCURL##*:}" \
		--resolve "$RESOLVE" --resolve "dc01.fabrikam.com:${DCURL##*:}:$DC_ADDR" >/dev/null
done
run "$B" host test-client-configuration --dir "$H1"
last_att "$T/ad.json"
ok $([ $RC -eq 0 ] && [ "$(checks "$T/ad.json")" = \
	"Nonce DomainTrusted TicketSignature TicketValidity TicketComputer Signature HostGroup HealthCertificate" ] &&
	jq -e '.Mode == "ad" and ([.Trace.Steps[] | select(.Kind == "Check") | .Verdict] | all(. == "Pass")) and
	(.Trace.Steps[0].Label | contains("AD ticket from fabrikam.com")) and
	(.Trace.Steps[] | select(.Check == "HostGroup") | .Detail | startswith("member of host group '"'GuardedHosts'"'"))' \
	"$T/ad.json" >/dev/null; echo $?) \
	"AD mode: nonce, trusted domain, ticket signature, validity, computer, signature, host group, certificate, all Pass"
[ $RC -eq 0 ] || { sed 's/^/# /' <<<"$ERR"; show "$T/ad.json"; }
run "$B" host test-client-configuration --dir "$H2"
last_att "$T/ad2.json"
ok $([ $RC -eq 4 ] && jq -e '[.Trace.Steps[] | select(.Verdict == "Fail") | .Check] == ["HostGroup"] and
	.Trace.Steps[-1].Label == "UnauthorizedHost" and
	(.Trace.Steps[-2].Detail | rtrimstr("...")) as $d | .Reason | startswith($d)' "$T/ad2.json" >/dev/null; echo $?) \
	"a computer outside GuardedHosts: HostGroup Fail, its detail the Reason (cut at 300 characters)"
stop_bg DC
"$B" hgs set-server --dir "$A" --trust tpm >/dev/null
mark "AD mode"

# ---- no secret in any trace ----
"$B" hgs get-attestation-log --dir "$A" --json >"$T/att-log.json"
"$B" hgs get-key-protection-log --dir "$A" --json >"$T/kps-log.json"
ok $(! holds "$T/kps-log.json" "$TK" && ! holds "$T/att-log.json" "$TK" &&
	! holds "$T/kps-log.json" "$WRAPPED" && ! holds "$T/kps-log.json" "${WRAPPED:64:64}"; echo $?) \
	"no log holds the TK or the KP's wrapped TK (raw, hex, base64)"
ok $(jq -e '[.[].Trace.Steps[] | (.Label, (.Detail // "")) | length] | max < 300' "$T/att-log.json" >/dev/null &&
	jq -e '[.[].Trace.Steps[] | (.Label, (.Detail // "")) | length] | max < 300' "$T/kps-log.json" >/dev/null; echo $?) \
	"every label and detail is under 300 characters"

# ---- the ASan build: its hgs serve records traces, its CLI prints them ----
asan() {
	local AB=$1 url
	stop_bg HGS
	start_hgs HGS "$AB" "$A"
	ok $? "ASan hgs serve on the same node: $LINE"
	url="http://hgs.relecloud.com:$HGS_PORT"
	point_hosts "$url" "hgs.relecloud.com:$HGS_PORT:$A_ADDR"
	run "$B" host test-client-configuration --dir "$H2"
	last_att "$T/asan-debug.json"
	ok $([ $RC -eq 4 ] && jq -e '[.Trace.Steps[] | select(.Verdict == "Fail") | .Check] == ["Hgs_UefiDebugDisabled"]' \
		"$T/asan-debug.json" >/dev/null; echo $?) "asan: FabricHost2's trace fails Hgs_UefiDebugDisabled"
	run "$B" host unwrap-key-protector --dir "$H1" --key-protector "$KP"
	last_kps "$T/asan-rel.json"
	ok $([ $RC -eq 0 ] && [ "$(checks "$T/asan-rel.json")" = "$KPS_CHECKS" ]; echo $?) "asan: a release, all its checks"
	run "$B" host unwrap-key-protector --dir "$H1" --key-protector "$W/owner-only.kp"
	last_kps "$T/asan-nl.json"
	ok $([ $RC -eq 4 ] && jq -e '.Trace.Steps[-1].Label == "403 GuardianNotListed"' "$T/asan-nl.json" >/dev/null; echo $?) \
		"asan: GuardianNotListed"
	run "$AB" hgs get-attestation-log --dir "$A" --trace "$(jq -r .Id "$T/asan-debug.json")"
	ok $([ $RC -eq 0 ] && grep -qE "^  ✗ Hgs_UefiDebugDisabled " <<<"$OUT"; echo $?) "asan: --trace prints it"
	run "$AB" hgs get-key-protection-log --dir "$A" --trace "$(jq -r .Id "$T/asan-nl.json")" --json
	ok $([ $RC -eq 0 ] && jq -e '.Reason == "GuardianNotListed"' <<<"$OUT" >/dev/null; echo $?) "asan: --trace --json"
	stop_bg HGS
	ok $([ "$STOP_RC" -eq 0 ] && ! grep -q "ERROR: AddressSanitizer\|runtime error" "$T/hgs.err"; echo $?) \
		"asan: hgs serve stops cleanly, no sanitizer report"
}
if [ -n "${HGSLAB_ASAN:-}" ] && built "$HGSLAB_ASAN"; then
	asan "$HGSLAB_ASAN"
fi

# ---- nothing survives ----
cleanup
ok $(! lab_pids >/dev/null; echo $?) "no swtpm or hgslab process of this test survives"
mark "total"
done_testing
