#!/usr/bin/env bash
# kps_e2e.sh - key release end to end with real processes (DESIGN.md flow 6):
# an `hgs serve` node in TPM mode serving attestation and KPS, a second node
# (another HGS of the same name, host-key mode), two guarded hosts whose TPMs
# are swtpm emulators from the lab's TPM vendor CA (FabricHost1 baseline,
# FabricHost2 debug=on), both registered, and a tenant directory: Owner,
# MyHgsService imported from the served metadata, a key protector for both.
# Every process has its own loopback address (127.A.B.x), ports are chosen
# by the system and readiness is read from each process's stdout through a
# fifo: never a sleep.
#
# Proves: FabricHost1 (Passed; attesting first, then with its certificate,
# then while its agent runs, borrowing the agent's swtpm) unwraps the KP and
# prints the owner's TK fingerprint; the TK itself - obtained by the test
# only from the owner's private key with openssl, held in a shell variable
# and pipes - is in no file under the lab (raw, hex, base64 at any byte
# alignment) and in no command line or environment of the lab's processes,
# checked while the node, the agent and its swtpm run and again at the end;
# the scanner is shown to find a decoy secret in each form (so the check can
# fail).  Refused, each with its reason, exit 4 and a key protection log
# entry: no health certificate (curl), a KP that does not list this HGS, a
# KP with one byte of its signed body changed, a guardian revoked from the
# KP, a certificate issued before the cut-off, an expired one (node clock
# moved with clock-offset), one signed by another HGS; a healthy host
# replaying FabricHost1's certificate gets a TK wrapped to FabricHost1's
# transport key that its own TPM cannot open; FabricHost2 fails attestation
# (DebugMode) and asks for nothing.  Fallback: with the primary key
# protection URL on a closed port the fallback answers and
# get-client-configuration shows IsFallbackInUse True.  With $HGSLAB_ASAN,
# the verb's release, refusal and fallback paths run again under ASan.  A
# one-second `bench release` shows the release benchmark measures.
# Every process is stopped by pid at the end, and the last check proves none
# survived.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lab.sh"

require swtpm swtpm_setup openssl jq curl xxd od sha256sum base64

# lab_pids: the lab's processes (command lines naming the test directory) and this shell.
lab_pids() { pgrep -f "$T"; echo $$; }

# ---- the lab (tests/cli/lab.sh) ----

lab_tpm "$HGSLAB" "$T/lab"
B_ADDR=$NET.4
HB="$W/hgs-other" TEN="$W/tenant" KP="$W/vm1.kp"
lab_tenant "$TEN" "$KP"
run "$B" tenant show-key-protector --dir "$TEN" "$KP" --json
FP=$(jq -r .TransportKeyFingerprint <<<"$OUT")
KPID=$(jq -r .Id <<<"$OUT")
TK=$(kp_open "$KP" 0 "$TEN/guardians/Owner/encryption.key")
ok $([ ${#FP} -eq 64 ] && [ ${#TK} -eq 64 ] && [ "$(fp_of "$TK")" = "$FP" ]; echo $?) \
	"show-key-protector: the owner's TK fingerprint; the test's copy of the TK (openssl, a pipe) matches it"
mark "lab ready"

# ---- a Passed host unwraps the KP ----
# kps_last FIELD: FIELD of the last key protection log entry of node A.
kps_last() { "$B" hgs get-key-protection-log --dir "$A" --last 1 --json | jq -r ".[-1].$1"; }

run "$B" host unwrap-key-protector --dir "$H1" --key-protector "$KP"
ok $([ $RC -eq 0 ] && [ "$(field TransportKeyFingerprint)" = "$FP" ] &&
	[ "$(field KeyProtectionServerUrl)" = "$KPURL" ] && [ "$(field IsFallbackInUse)" = False ] &&
	[ "$(field AttestedFirst)" = True ] && grep -q "attested first: Passed" <<<"$ERR"; echo $?) \
	"FabricHost1 attests first, then unwraps: its TK fingerprint is the owner's"
[ $RC -eq 0 ] || { sed 's/^/# /' <<<"$OUT$ERR"; }
ok $([ "$(kps_last Result)" = Released ] && [ "$(kps_last Host)" = FabricHost1 ] &&
	[ "$(kps_last KeyProtector)" = "$KPID" ]; echo $?) "the key protection log records the release to FabricHost1"
ok $(! grep -q "$FP" "$W/hosts/h1/key-release.json" && jq -e '.Result == "Released" and
	.IsFallbackInUse == false' "$H1/key-release.json" >/dev/null; echo $?) \
	"key-release.json records the URL that answered, no key material"
run "$B" host unwrap-key-protector --dir "$H1" --key-protector "$KP" --json
ok $([ $RC -eq 0 ] && [ "$(jq -r .TransportKeyFingerprint <<<"$OUT")" = "$FP" ] &&
	[ "$(jq -r .AttestedFirst <<<"$OUT")" = false ]; echo $?) \
	"a second unwrap uses the health certificate it holds (--json)"

start_bg AGENT "$B" host run --dir "$H1"
next_line AGENT
next_line AGENT
ok $([ "$LINE" = "host: FabricHost1 attestation: Passed" ]; echo $?) "FabricHost1's agent runs: Passed"
run "$B" host unwrap-key-protector --dir "$H1" --key-protector "$KP"
ok $([ $RC -eq 0 ] && [ "$(field TransportKeyFingerprint)" = "$FP" ]; echo $?) \
	"unwrap while the agent runs (the agent's swtpm opens the TK)"

# ---- the TK in no file, no command line, no environment ----
mkdir -p "$T/decoy"
DECOY=$(od -An -v -tx1 -N32 /dev/urandom | tr -d ' \n')
{ printf 'x'; printf %s "$DECOY" | xxd -r -p; printf 'y'; } >"$T/decoy/raw.bin"
{ printf 'ab'; printf %s "$DECOY" | xxd -r -p; } | base64 -w 60 >"$T/decoy/b64.txt"
printf '{"k": "%s"}\n' "${DECOY^^}" >"$T/decoy/hex.json"
env HGSLAB_DECOY="$DECOY" tail -f /dev/null </dev/null &
DECOY_PID=$!
found=0
for f in raw.bin b64.txt hex.json; do
	holds "$T/decoy/$f" "$DECOY" && found=$((found + 1))
done
scan_procs "$DECOY" "$DECOY_PID" >/dev/null
ok $([ $found -eq 3 ] && [ "$SCANNED" -eq 1 ] && ! scan_procs "$DECOY" "$DECOY_PID" >/dev/null &&
	! holds "$T/decoy/raw.bin" "$TK"; echo $?) \
	"the scanner finds a decoy secret raw, as base64 (offset, wrapped) and as hex, and in an environment"
kill "$DECOY_PID"; wait "$DECOY_PID" 2>/dev/null
rm -rf "$T/decoy"
ok $(scan_files "$TK" "$W"; echo $?) "the TK is in no file under the lab (node, hosts, TPM states, tenant): raw, hex, base64"
mapfile -t PIDS < <(lab_pids)
scan_procs "$TK" "${PIDS[@]}"
ok $(($? + (SCANNED < 4))) \
	"the TK is in no command line or environment of the lab's $SCANNED processes (hgs serve, agent, swtpm, this shell)"
stop_bg AGENT
ok $STOP_RC "the agent stops"
mark "released"

# ---- refusals ----
# refused WHAT REASON: the last `run` exited 4 naming REASON; the log's last entry is that refusal.
refused() {
	ok $([ $RC -eq 4 ] && [ "$(field Result)" = "$2" ] && grep -q "refused by '$KPURL': $2: " <<<"$ERR" &&
		[ -z "$(field TransportKeyFingerprint)" ] && [ "$(kps_last Result)" = Refused ] &&
		[ "$(kps_last Reason)" = "$2" ]; echo $?) "$1: exit 4, $2, logged ($(kps_last Message | cut -c1-70)...)"
	[ $RC -eq 4 ] || sed 's/^/# /' <<<"$OUT$ERR"
}

code=$(jq -cn --arg kp "$(base64 -w0 "$KP")" '{key_protector: $kp}' |
	curl -s -o "$T/nohc.json" -w '%{http_code}' --resolve "$RESOLVE" -H 'Content-Type: application/json' \
		--data-binary @- "$KPURL/v1/release")
ok $([ "$code" = 403 ] && [ "$(jq -r .reason "$T/nohc.json")" = NoHealthCertificate ] &&
	[ "$(kps_last Reason)" = NoHealthCertificate ] && [ "$(kps_last KeyProtector)" = "$KPID" ]; echo $?) \
	"no health certificate (curl): 403 NoHealthCertificate, logged"

run "$B" tenant new-key-protector --dir "$TEN" --owner Owner --out "$W/owner-only.kp"
run "$B" host unwrap-key-protector --dir "$H1" --key-protector "$W/owner-only.kp"
refused "a KP that does not list this HGS" GuardianNotListed

kp_body "$KP" | jq -c . >/dev/null   # the body parses
BODY=$(kp_body "$KP")
last=${KPID: -1}
[ "$last" = 0 ] && new=1 || new=0
CHANGED=${BODY/\"id\":\"$KPID\"/\"id\":\"${KPID%?}$new\"}
jq --arg b "$(printf %s "$CHANGED" | base64 -w0)" '.body = $b' "$KP" >"$W/changed.kp"
ok $([ "$(cmp -l <(kp_body "$KP") <(kp_body "$W/changed.kp") | wc -l)" -eq 1 ]; echo $?) \
	"changed.kp: one byte of the signed body differs"
run "$B" host unwrap-key-protector --dir "$H1" --key-protector "$W/changed.kp"
refused "a KP with one byte changed" OwnerSignatureInvalid

cp "$KP" "$W/revoked.kp"
run "$B" tenant revoke-key-protector-access --dir "$TEN" --key-protector "$W/revoked.kp" --guardian MyHgsService
ok $RC "tenant revoke-key-protector-access MyHgsService (a copy of the KP)"
run "$B" host unwrap-key-protector --dir "$H1" --key-protector "$W/revoked.kp"
refused "a guardian revoked from the KP" GuardianNotListed

NB=$(jq -r .HealthCertificate "$H1/state.json" | base64 -d | openssl x509 -inform DER -noout -startdate |
	sed 's/^notBefore=//')
run "$B" hgs set-key-protection-policy --dir "$A" --deny-health-certificates-issued-before "@$(($(date -d "$NB" +%s) + 1))"
ok $RC "set-key-protection-attestation-signer-certificate-policy: cut-off just after FabricHost1's certificate"
run "$B" host unwrap-key-protector --dir "$H1" --key-protector "$KP"
refused "a health certificate issued before the cut-off" HealthCertificateIssuedBeforeCutoff
"$B" hgs set-key-protection-policy --dir "$A" --clear >/dev/null

echo 32400 >"$A/clock-offset"
run "$B" host unwrap-key-protector --dir "$H1" --key-protector "$KP"
refused "an expired health certificate (HGS clock +9 h)" HealthCertificateExpired
rm -f "$A/clock-offset"

# another HGS of the same name (host-key mode) issues FabricHost1 a certificate
run "$B" hgs init --dir "$HB" --name MyHgsService --domain relecloud.com --trust hostkey --listen "$B_ADDR:0"
start_hgs HGSB "$B" "$HB"
ok $? "a second HGS (same name, host-key mode) is ready: $LINE"
"$B" host get-host-key --dir "$H1" --out "$W/h1.hostkey.pem" >/dev/null &&
	"$B" hgs add-host-key --dir "$HB" --name FabricHost1 --key "$W/h1.hostkey.pem" >/dev/null &&
	"$B" host set-client-configuration --dir "$H1" \
		--attestation-url "http://hgs2.relecloud.com:$HGSB_PORT/Attestation" --key-protection-url "$KPURL" \
		--resolve "$RESOLVE" --resolve "hgs2.relecloud.com:$HGSB_PORT:$B_ADDR" >/dev/null
run "$B" host test-client-configuration --dir "$H1"
ok $([ $RC -eq 0 ] && [ "$(field AttestationOperationMode)" = TrustHostKey ]; echo $?) \
	"FabricHost1 attests with the other HGS: Passed there"
run "$B" host unwrap-key-protector --dir "$H1" --key-protector "$KP"
refused "a health certificate signed by another HGS" UntrustedHealthCertificate
stop_bg HGSB
"$B" host set-client-configuration --dir "$H1" --attestation-url "$URL/Attestation" \
	--key-protection-url "$KPURL" --resolve "$RESOLVE" >/dev/null
run "$B" host test-client-configuration --dir "$H1"
ok $([ $RC -eq 0 ] && [ "$(field AttestationOperationMode)" = TrustTpm ]; echo $?) \
	"FabricHost1 attests with MyHgsService again"

# a host that fails attestation asks for nothing
run "$B" host unwrap-key-protector --dir "$H2" --key-protector "$KP"
ok $([ $RC -eq 4 ] && grep -q "host 'FabricHost2' failed attestation: InsecureHostConfiguration (DebugMode)" <<<"$ERR" &&
	grep -q "no key was requested" <<<"$ERR" && [ "$(field Result)" = InsecureHostConfiguration ] &&
	[ -z "$(field TransportKeyFingerprint)" ]; echo $?) \
	"FabricHost2 (debug=on) fails attestation first: exit 4, InsecureHostConfiguration (DebugMode)"
sed 's/^/# /' <<<"$ERR"
ok $([ "$("$B" hgs get-key-protection-log --dir "$A" --host FabricHost2 --json | jq length)" -eq 0 ] &&
	"$B" hgs get-attestation-log --dir "$A" --host FabricHost2 --json |
	jq -e '.[-1] | (.Status // .AttestationStatus) == "InsecureHostConfiguration"' >/dev/null; echo $?) \
	"its attestation log entry says why; KPS never saw it"

# a healthy host replays FabricHost1's certificate: the TK is wrapped to FabricHost1's TPM key
HC1=$(jq -r .HealthCertificate "$H1/state.json")
jq --arg hc "$HC1" '.AttestationStatus = "Passed" | .AttestationSubstatus = [] | .Reason = "" |
	.HealthCertificate = $hc | .ExpiresUnix = (now + 3600 | floor)' "$H2/state.json" >"$W/h2.state"
mv "$W/h2.state" "$H2/state.json"
run "$B" host unwrap-key-protector --dir "$H2" --key-protector "$KP"
ok $([ $RC -eq 4 ] && [ "$(field Result)" = TransportKeyMismatch ] &&
	grep -q "this host's transport key is .*, so its TPM cannot open it" <<<"$ERR" &&
	grep -qi "rsa_decrypt\|decrypt" <<<"$ERR" && [ -z "$(field TransportKeyFingerprint)" ]; echo $?) \
	"FabricHost2 replaying FabricHost1's certificate: its TPM cannot decrypt what KPS sent (exit 4)"
sed 's/^/# /' <<<"$ERR"
ok $([ "$(kps_last Result)" = Released ] && [ "$(kps_last Host)" = FabricHost1 ]; echo $?) \
	"the log shows that release: to FabricHost1's certificate, wrapped to its transport key"
mark "refusals"

# ---- fallback ----
DEAD="http://hgs1.relecloud.com:1"
run "$B" host set-client-configuration --dir "$H1" --attestation-url "$DEAD/Attestation" \
	--key-protection-url "$DEAD/KeyProtection" --fallback-attestation-url "$URL/Attestation" \
	--fallback-key-protection-url "$KPURL" --resolve "$RESOLVE" --resolve "hgs1.relecloud.com:1:$A_ADDR"
ok $RC "set-client-configuration: primary URLs on a closed port, the fallback is MyHgsService"
run "$B" host unwrap-key-protector --dir "$H1" --key-protector "$KP"
ok $([ $RC -eq 0 ] && [ "$(field TransportKeyFingerprint)" = "$FP" ] && [ "$(field IsFallbackInUse)" = True ] &&
	[ "$(field KeyProtectionServerUrl)" = "$KPURL" ]; echo $?) "the primary KPS is down: the fallback releases"
run "$B" host get-client-configuration --dir "$H1"
ok $([ "$(field IsFallbackInUse)" = True ] && [ "$(field AttestationStatus)" = Passed ]; echo $?) \
	"get-client-configuration: IsFallbackInUse True"
mark "fallback"

# ---- the verb under ASan ----
if [ -n "${HGSLAB_ASAN:-}" ] && built "$HGSLAB_ASAN"; then
	run "$HGSLAB_ASAN" host unwrap-key-protector --dir "$H1" --key-protector "$KP"
	ok $([ $RC -eq 0 ] && [ "$(field TransportKeyFingerprint)" = "$FP" ] && [ "$(field IsFallbackInUse)" = True ] &&
		! grep -q "Sanitizer\|runtime error" <<<"$ERR"; echo $?) "asan: unwrap through the fallback"
	"$B" host set-client-configuration --dir "$H1" --attestation-url "$URL/Attestation" \
		--key-protection-url "$KPURL" --resolve "$RESOLVE" >/dev/null
	run "$HGSLAB_ASAN" host unwrap-key-protector --dir "$H1" --key-protector "$W/changed.kp"
	ok $([ $RC -eq 4 ] && [ "$(field Result)" = OwnerSignatureInvalid ] &&
		! grep -q "Sanitizer\|runtime error" <<<"$ERR"; echo $?) "asan: a refusal"
	run "$HGSLAB_ASAN" host unwrap-key-protector --dir "$H2" --key-protector "$KP"
	ok $([ $RC -eq 4 ] && [ "$(field Result)" = TransportKeyMismatch ] &&
		! grep -q "Sanitizer\|runtime error" <<<"$ERR"; echo $?) "asan: a TK the TPM cannot open"
	mark "asan"
fi

# ---- bench release: a smoke run (figures are the benchmark's to report, not asserted) ----
run "$B" bench release --seconds 1 --json --workdir "$T/bench"
ok $([ $RC -eq 0 ] && jq -e '.Benchmark == "release" and .Ok and .Releases.Released > 0 and
	.Releases.Refused == 0 and .Releases.Errors == 0 and
	.LatencyMilliseconds.P50 <= .LatencyMilliseconds.P99 and
	.KpsCpuMillisecondsPerRelease > 0 and (.CryptoFloor.Operations | length) == 4 and .Ratio > 0 and
	.GoalRatio == 2' <<<"$OUT" >/dev/null; echo $?) \
	"bench release --seconds 1: releases ($(jq -r .ReleasesPerSecond <<<"$OUT")/s), KPS CPU per release and a four-operation floor (ratio $(jq -r .Ratio <<<"$OUT")x)"
ok $([ $RC -eq 0 ] && pascal_keys <<<"$OUT"; echo $?) \
	"bench release --json has PascalCase keys only"
[ $RC -eq 0 ] || sed 's/^/# /' <<<"$ERR" | tail -n 10
ok $(! pgrep -f "$T/bench" >/dev/null && [ -z "$(ls -A "$T/bench" 2>/dev/null)" ]; echo $?) \
	"bench release leaves no process and no lab directory"
mark "bench"

# ---- the end: still nowhere, then nothing survives ----
ok $(scan_files "$TK" "$W"; echo $?) "after every step the TK is still in no file under the lab"
run "$B" hgs get-key-protection-log --dir "$A" --json
ok $(! grep -qiF -f <(patterns "$TK") <<<"$OUT"; echo $?) "nor in the key protection log"
stop_bg HGS
ok $STOP_RC "hgs serve stops on SIGTERM"
TK=""
cleanup
ok $(! pgrep -f "$T" >/dev/null; echo $?) "no swtpm or hgslab process of this test survives"
mark "total"
done_testing
