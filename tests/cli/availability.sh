#!/usr/bin/env bash
# availability.sh - the fabric stays up for the hosts it serves (issue #12,
# hole 5), with real processes (the TPM-mode lab of lab.sh):
#   - 300 slow clients from one address of their own, each trickling a header
#     line every 2 s and connecting again when cut, do not keep FabricHost1
#     from attesting within a bound, and HGS cuts each slow connection within
#     its deadline for a whole request (the idle timeout alone never fires:
#     every line resets it);
#   - a host keeps its valid health certificate through a TransientError
#     (the attestation service down, key protection up), so it still gets
#     its TK without attesting;
#   - with HGS unreachable, start-vm is refused (exit 4) with TransientError
#     as the reason, which a scenario can expect: with no valid certificate
#     (attestation fails) and with one (KPS, part of HGS, does not answer);
#   - the host agent supervises its swtpm: killed, it comes back with a fresh
#     measured boot (a new port in agent.json, the TPM usable, a new
#     attestation), never an agent reporting itself running with a dead TPM.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lab.sh"

require swtpm swtpm_setup jq openssl xxd od
SLOW="$ROOT/build/release/tests/helper_slowloris"
[ -x "$SLOW" ] || { echo "Bail out! $SLOW is not built: make"; exit 1; }

lab_tpm "$HGSLAB" "$T/lab"
TEN="$W/tenant" KP="$W/vm1.kp"
lab_tenant "$TEN" "$KP"
run "$B" host test-client-configuration --dir "$H1"
ok $RC "FabricHost1 attests: Passed"

# ---- slow clients ----
start_bg SLOWC "$SLOW" "$A_ADDR" "$HGS_PORT" "$NET.9" 300 2000 20
next_line SLOWC 30
ok $([ "$LINE" = ready ]; echo $?) "300 slow clients connected from $NET.9 (one header line every 2 s each)"
t0=$(date +%s.%N)
run timeout 60 "$B" host test-client-configuration --dir "$H1" --timeout 30
dt=$(since "$t0")
ok $([ $RC -eq 0 ] && [ "$(field AttestationStatus)" = Passed ] &&
	awk -v d="$dt" 'BEGIN { exit !(d < 20) }'; echo $?) \
	"while they hold on, FabricHost1 still attests in ${dt} s (bound 20 s)"
[ $RC -eq 0 ] || sed 's/^/# /' <<<"$OUT$ERR" | tail -n 4
next_line SLOWC 60
stats=$LINE
cutn=$(sed -n 's/.* cut \([0-9]*\) .*/\1/p' <<<"$stats")
longest=$(sed -n 's/.* longest_ms \([0-9]*\) .*/\1/p' <<<"$stats")
ok $([ "${cutn:-0}" -gt 0 ] && [ "${longest:-99999}" -gt 0 ] && [ "${longest:-99999}" -le 15000 ]; echo $?) \
	"HGS cut the slow requests within its deadline for a whole request ($stats)"
stop_bg SLOWC

# ---- no HGS, no shielded VM: start-vm is refused with TransientError ----
DEAD=1   # tcpmux: nothing listens there, a connect is refused at once
# a stand-in VM, shielded with the lab's KP (random disk and vTPM: it never gets as far as
# booting), exported by the tenant, who signs its policy statement (policy.sig)
S="$TEN/vms/vm1/shielded"
mkdir -p "$S/vtpm"
head -c 65536 /dev/urandom >"$S/disk.img"
head -c 4096 /dev/urandom >"$S/vtpm/tpm2-00.permall"
cp "$KP" "$S/key-protector.kp"
kpid=$("$B" tenant show-key-protector --dir "$TEN" --json "$KP" | jq -r .Id)
echo '{"version":1,"name":"vm1","policy":"shielded","kp_id":"'"$kpid"'","disk_size":65536}' >"$S/config.json"
run "$B" tenant export-vm --dir "$TEN" --vm vm1 --out "$W/fake"
ok $([ $RC -eq 0 ] && [ -s "$W/fake/policy.sig" ]; echo $?) "tenant export-vm: a stand-in bundle of vm1 with its signed policy"
# FabricHost1 holds a valid certificate, but KPS is HGS too, and HGS does not answer
run "$B" host test-client-configuration --dir "$H1"
ok $RC "FabricHost1 attests again once the slow clients are gone: Passed, a valid certificate"
for h in "$H1" "$H2"; do
	"$B" host set-client-configuration --dir "$h" \
		--attestation-url "http://hgs.relecloud.com:$DEAD/Attestation" \
		--key-protection-url "http://hgs.relecloud.com:$DEAD/KeyProtection" \
		--resolve "hgs.relecloud.com:$DEAD:$A_ADDR" >/dev/null &&
		"$B" host import-vm --dir "$h" --bundle "$W/fake" >/dev/null
done
run "$B" host start-vm --dir "$H1" --name vm1
ok $([ $RC -eq 4 ] && grep -q "TransientError" <<<"$ERR" && [ ! -e "$H1/vms/vm1/state.json" ]; echo $?) \
	"HGS unreachable, FabricHost1's certificate valid: start-vm is refused (exit 4) with TransientError, no key from an absent KPS"
sed 's/^/# /' <<<"$ERR" | head -n 2
run "$B" host start-vm --dir "$H2" --name vm1
ok $([ $RC -eq 4 ] && grep -q "TransientError" <<<"$ERR" && [ ! -e "$H2/vms/vm1/state.json" ]; echo $?) \
	"HGS unreachable and no valid certificate (FabricHost2): start-vm is refused (exit 4) with TransientError as the reason"
sed 's/^/# /' <<<"$ERR" | head -n 2

# ---- a TransientError keeps a valid health certificate ----
"$B" host set-client-configuration --dir "$H1" \
	--attestation-url "http://hgs.relecloud.com:$DEAD/Attestation" --key-protection-url "$KPURL" \
	--resolve "$RESOLVE" --resolve "hgs.relecloud.com:$DEAD:$A_ADDR" >/dev/null
run "$B" host test-client-configuration --dir "$H1"
ok $([ $RC -eq 4 ] && [ "$(jq -r .AttestationStatus "$H1/state.json")" = TransientError ] &&
	[ -n "$(jq -r '.HealthCertificate // empty' "$H1/state.json")" ] &&
	[ "$(jq -r '.ExpiresUnix' "$H1/state.json")" -gt "$(date +%s)" ]; echo $?) \
	"the attestation service down: TransientError, and the still valid health certificate is kept"
run "$B" host unwrap-key-protector --dir "$H1" --key-protector "$KP" --json
ok $([ $RC -eq 0 ] && [ "$(jq -r .Result <<<"$OUT")" = Released ] &&
	[ "$(jq -r .AttestedFirst <<<"$OUT")" = false ]; echo $?) \
	"so KPS still releases the TK to FabricHost1 with it, without a new attestation"
[ $RC -eq 0 ] || sed 's/^/# /' <<<"$OUT$ERR" | tail -n 3

# ---- the agent supervises its swtpm ----
"$B" host set-client-configuration --dir "$H1" --attestation-url "$URL/Attestation" \
	--key-protection-url "$KPURL" --resolve "$RESOLVE" >/dev/null
start_bg AGENT "$B" host run --dir "$H1"
next_line AGENT 60
first=$LINE
port0=$(jq -r .swtpm_port "$H1/agent.json" 2>/dev/null)
next_line AGENT 60
ok $(grep -q "agent running" <<<"$first" && grep -q "attestation: Passed" <<<"$LINE"; echo $?) \
	"host run: $first; $LINE"
spid=$(pgrep -f "swtpm socket.*$H1/tpm" | head -n1)
[ -n "$spid" ] && kill -KILL "$spid"
lines=""
for _ in 1 2 3 4; do
	next_line AGENT 60 || break
	lines="$lines$LINE"$'\n'
	grep -q "attestation:" <<<"$LINE" && break
done
port1=$(jq -r .swtpm_port "$H1/agent.json" 2>/dev/null)
run "$B" host get-platform-identifier --dir "$H1" --out "$W/h1.again.json"
ok $([ -n "$spid" ] && grep -q "agent running" <<<"$lines" && grep -q "attestation: Passed" <<<"$lines" &&
	[ -n "$port1" ] && [ "$port1" != "$port0" ] && [ $RC -eq 0 ] &&
	[ "$(jq -r .ek_fingerprint "$W/h1.pid.json")" = "$(jq -r .ek_fingerprint "$W/h1.again.json")" ]; echo $?) \
	"swtpm killed: the agent restarts it with a fresh measured boot (port $port0 -> ${port1:-none}), the TPM answers with the same EK, and it attests again"
sed 's/^/# agent: /' <<<"$lines"
stop_bg AGENT
ok $([ "$STOP_RC" -eq 0 ] && [ -z "$(pgrep -f "swtpm socket.*$H1/tpm")" ]; echo $?) \
	"the agent stops cleanly and leaves no swtpm"

stop_bg HGS
done_testing
