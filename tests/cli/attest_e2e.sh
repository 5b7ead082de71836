#!/usr/bin/env bash
# attest_e2e.sh - attestation end to end with real processes: guarded hosts
# whose TPMs are real swtpm emulators manufactured with the lab's own TPM
# vendor CA, and real `hgslab hgs serve` nodes, each on its own loopback
# address (127.x.y.z, ports chosen by the system, readiness read from each
# process's stdout through a fifo: never a sleep).
#
# TPM mode: a baseline host registered by platform identifier, TCG log
# baseline and CI policy is Passed through `host run` (the agent) and
# `test-client-configuration`; `get-client-configuration` shows it;
# tpm2_eventlog parses the host's log and tpm2_checkquote verifies the quote
# the host kept; then the same host (registration is by EK) boots with each
# profile override and fails with its sub-status (one through an agent
# restart, the others directly); an unregistered host is UnauthorizedHost;
# the fallback URL takes over when the primary HGS is down; an HGS that
# nobody answers for is a TransientError.  Host-key mode: a registered host
# key is Passed, an unknown one UnauthorizedHost.  AD mode (`hgslab fabric`
# and `hgs add-trusted-domain` must answer --help: a missing verb is a
# failure, never a skip): a member of the registered group is Passed, a
# computer outside it UnauthorizedHost.  Every process is stopped by pid at the end,
# and the last check proves none of them survived.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lab.sh"

START0=$START
TAG=""

# Every case name starts with the build under test.
eval "lib_$(declare -f ok)"
ok() { lib_ok "$1" "${TAG:+$TAG: }$2"; }

require swtpm swtpm_setup tpm2_eventlog tpm2_checkquote openssl

# suite BIN INDEX TAG: the whole run against binary BIN, each case named
# "TAG: ...", in $T/TAG and on loopback addresses of its own.
suite() {
	local B=$1 W setting substatus h ca_before
	TAG=$3
	W="$T/$TAG"
	mkdir -p "$W"
	START=$(date +%s.%N)
	echo "# suite $TAG: $B"
	# Loopback addresses of this run: 127.A.B.{1..6}.
	lab_net "$2"
	HGS_ADDR=$NET.1 H1_ADDR=$NET.2 H2_ADDR=$NET.3 HK_ADDR=$NET.4 DC_ADDR=$NET.5 AD_ADDR=$NET.6
	H1="$W/hosts/h1" H2="$W/hosts/h2" VENDOR="$W/hosts/tpm-vendor"

	# ---- hosts ----
	run "$B" host new --help
	ok $([ $RC -eq 0 ] && grep -q -- "--vendor-dir" <<<"$OUT"; echo $?) "host new --help"
	run "$B" host new --dir "$W/hosts/bad" --name FabricHost9 --domain fabrikam.com --profile baseline,debug=maybe
	ok $([ $RC -eq 2 ] && grep -q "debug" <<<"$ERR" && [ ! -e "$W/hosts/bad" ]; echo $?) \
		"host new: a bad profile exits 2 and creates nothing"
	run "$B" host new --dir "$W/hosts/bad" --name "Fabric_Host" --domain fabrikam.com
	ok $([ $RC -eq 2 ] && grep -q "invalid host name" <<<"$ERR"; echo $?) "host new: a bad host name exits 2"

	run "$B" host new --dir "$H1" --name FabricHost1 --domain fabrikam.com --listen "$H1_ADDR"
	ok $([ $RC -eq 0 ] && [ "$(field Name)" = FabricHost1 ] && [ "$(field BootProfile)" = baseline ]; echo $?) \
		"host new: FabricHost1 with a baseline profile"
	ok $([ "$(stat -c %a "$H1")" = 700 ] && [ "$(stat -c %a "$H1/keys/host-key.pem")" = 600 ] &&
		[ -f "$H1/tpm/tpm2-00.permall" ] && [ -f "$VENDOR/vendor-ca-cert.pem" ] &&
		[ -z "$(ls -A "$W/hosts" | grep '^\.')" ]; echo $?) \
		"host dir 0700, machine key 0600, TPM manufactured, vendor CA beside it, no temporary left"
	run "$B" host new --dir "$H1" --name FabricHost1 --domain fabrikam.com
	ok $([ $RC -eq 1 ] && grep -q "not empty" <<<"$ERR"; echo $?) "host new: an existing host dir is refused"
	ca_before=$(sha256sum <"$VENDOR/vendor-ca-cert.pem")
	run "$B" host new --dir "$H2" --name FabricHost2 --domain fabrikam.com --listen "$H2_ADDR" --json
	ok $([ $RC -eq 0 ] && grep -q '"Name": "FabricHost2"' <<<"$OUT" &&
		[ "$(sha256sum <"$VENDOR/vendor-ca-cert.pem")" = "$ca_before" ]; echo $?) \
		"host new --json: FabricHost2 shares the lab's vendor CA"
	ok $("$B" host get-client-configuration --dir "$H2" | grep -qE '^Mode +: Local$'; echo $?) \
		"a new host is in Local mode (NotConfigured)"
	mark "hosts made"

	# ---- HGS in TPM mode ----
	run "$B" hgs init --dir "$W/hgs-tpm" --name MyHgsService --domain relecloud.com --trust tpm \
		--listen "$HGS_ADDR:0" --tpm-vendor-ca "$VENDOR/vendor-ca-cert.pem"
	ok $RC "hgs init --trust tpm with the lab's TPM vendor CA"
	start_hgs HGS "$B" "$W/hgs-tpm"
	ok $? "hgs serve is ready: $LINE"
	URL="http://hgs.relecloud.com:$HGS_PORT"
	RESOLVE="hgs.relecloud.com:$HGS_PORT:$HGS_ADDR"

	# ---- registration ----
	run "$B" host get-platform-identifier --dir "$H1" --out "$W/h1.pid.json"
	ok $([ $RC -eq 0 ] && grep -q '"format": "hgslab-platform-identifier"' "$W/h1.pid.json" &&
		grep -q 'BEGIN CERTIFICATE' "$W/h1.pid.json"; echo $?) "get-platform-identifier: EK public + EK certificate"
	run "$B" host get-baseline-policy --dir "$H1" --out "$W/h1.tcglog"
	ok $RC "get-baseline-policy"
	run "$B" host get-ci-policy --dir "$H1" --out "$W/h1.ci"
	ok $RC "get-ci-policy"
	run "$B" hgs add-tpm-host --dir "$W/hgs-tpm" --name FabricHost1 --platform-identifier "$W/h1.pid.json"
	ok $([ $RC -eq 0 ] && grep -q "hgslab TPM Vendor CA" <<<"$OUT"; echo $?) \
		"hgs add-tpm-host: the EK certificate chains to the vendor CA"
	run "$B" hgs add-tpm-policy --dir "$W/hgs-tpm" --name Baseline --tcglog "$W/h1.tcglog"
	ok $RC "hgs add-tpm-policy with the host's TCG log"
	run "$B" hgs add-ci-policy --dir "$W/hgs-tpm" --name HgsLabDefault --policy "$W/h1.ci"
	ok $RC "hgs add-ci-policy with the host's CI policy"
	for h in "$H1" "$H2"; do
		run "$B" host set-client-configuration --dir "$h" --attestation-url "$URL/Attestation" \
			--key-protection-url "$URL/KeyProtection" --resolve "$RESOLVE"
		ok $([ $RC -eq 0 ] && [ "$(field Mode)" = HostGuardianService ] &&
			[ "$(field AttestationServerUrl)" = "$URL/Attestation" ]; echo $?) \
			"set-client-configuration $(basename "$h") (hgs.relecloud.com resolved to $HGS_ADDR)"
	done
	run "$B" host set-client-configuration --dir "$H1" --attestation-url "$URL" \
		--key-protection-url "$URL/KeyProtection" --resolve "hgs.relecloud.com:80"
	ok $([ $RC -eq 2 ] && grep -q "invalid resolve entry" <<<"$ERR"; echo $?) \
		"set-client-configuration: a malformed resolve entry exits 2"
	mark "registered"

	# ---- the agent: Passed ----
	start_bg AGENT "$B" host run --dir "$H1"
	next_line AGENT
	ok $([[ "$LINE" == "host: FabricHost1 agent running (swtpm on $H1_ADDR:"* ]]; echo $?) \
		"host run: readiness line ($LINE)"
	next_line AGENT
	ok $([ "$LINE" = "host: FabricHost1 attestation: Passed" ]; echo $?) "the agent's first attestation: Passed"
	run "$B" host get-client-configuration --dir "$H1"
	ok $([ "$(field IsHostGuarded)" = True ] && [ "$(field AttestationStatus)" = Passed ] &&
		[ "$(field AttestationOperationMode)" = TrustTpm ] &&
		[ "$(field AttestationSubstatus)" = NoInformation ] && [ "$(field IsFallbackInUse)" = False ] &&
		[ "$(field AgentRunning)" = True ]; echo $?) "get-client-configuration: guarded, Passed, TrustTpm"
	run "$B" host get-client-configuration --dir "$H1" --json
	ok $([ $RC -eq 0 ] && grep -q '"AttestationStatus": "Passed"' <<<"$OUT" &&
		grep -q '"HealthCertificateNotAfter": "20' <<<"$OUT"; echo $?) "get-client-configuration --json"
	ok $(base64 -d <<<"$(sed -n 's/.*"HealthCertificate": "\(.*\)".*/\1/p' "$H1/state.json")" |
		openssl x509 -inform DER -noout -subject 2>/dev/null | grep -q "CN = FabricHost1"; echo $?) \
		"state.json holds the health certificate issued to FabricHost1"
	run "$B" host get-platform-identifier --dir "$H1" --out "$W/h1.pid2.json"
	ok $([ $RC -eq 0 ] && cmp -s <(grep ek_public "$W/h1.pid.json") <(grep ek_public "$W/h1.pid2.json"); echo $?) \
		"get-platform-identifier while the agent runs uses its swtpm (same EK)"
	run "$B" host test-client-configuration --dir "$H1"
	ok $([ $RC -eq 0 ] && [ "$(field AttestationStatus)" = Passed ] && grep -q "asking the agent" <<<"$ERR"; echo $?) \
		"test-client-configuration asks the running agent (SIGUSR1)"
	next_line AGENT
	ok $([ "$LINE" = "host: FabricHost1 attestation: Passed" ]; echo $?) "the agent attested again on request"
	ok $(grep -q '"Trigger": "signal"' "$H1/state.json"; echo $?) "the state records the trigger"
	mark "agent Passed"

	# ---- interop: tpm2_eventlog, tpm2_checkquote ----
	check "tpm2_eventlog parses the host's TCG log" tpm2_eventlog "$H1/tcglog.bin"
	ok $(cmp -s "$H1/tcglog.bin" "$W/h1.tcglog"; echo $?) "get-baseline-policy gives the same bytes the agent writes"
	Q="$H1/last-quote"
	check "tpm2_checkquote verifies the host's quote (signature, nonce, PCRs)" \
		tpm2_checkquote -u "$Q/ak.pem" -m "$Q/quote.msg" -s "$Q/quote.sig" -f "$Q/pcrs.bin" \
		-q "$Q/nonce.bin" -g sha256
	check "tpm2_checkquote replays the TCG log to the quoted PCRs" \
		tpm2_checkquote -u "$Q/ak.pem" -m "$Q/quote.msg" -s "$Q/quote.sig" -f "$Q/pcrs.bin" \
		-q "$Q/nonce.bin" -g sha256 -e "$H1/tcglog.bin"
	head -c 32 /dev/urandom >"$W/other-nonce.bin"
	ok $(! tpm2_checkquote -u "$Q/ak.pem" -m "$Q/quote.msg" -s "$Q/quote.sig" -f "$Q/pcrs.bin" \
		-q "$W/other-nonce.bin" -g sha256 >/dev/null 2>&1; echo $?) "tpm2_checkquote refuses another nonce"

	# ---- a profile override through an agent restart ----
	run "$B" host set-profile --dir "$H1" --profile baseline,debug=on
	ok $([ $RC -eq 0 ] && grep -q "restart it" <<<"$ERR"; echo $?) "set-profile while the agent runs: takes effect at the next run"
	stop_bg AGENT
	ok $([ "$STOP_RC" -eq 0 ] && [ ! -e "$H1/agent.json" ] && [ ! -e "$H1/agent.pid" ] &&
		! pgrep -f "tpmstate dir=$H1/tpm" >/dev/null; echo $?) "SIGTERM: the agent exits 0, its swtpm is gone"
	start_bg AGENT "$B" host run --dir "$H1"
	next_line AGENT
	next_line AGENT
	ok $([[ "$LINE" == "host: FabricHost1 attestation: InsecureHostConfiguration (DebugMode): "* ]]; echo $?) \
		"after a reboot with debug=on: InsecureHostConfiguration (DebugMode)"
	stop_bg AGENT
	ok $STOP_RC "the agent stops cleanly again"
	mark "agent restart"

	# ---- every other override, directly (no agent) ----
	while read -r setting substatus; do
		run "$B" host set-profile --dir "$H1" --profile "baseline,$setting"
		run "$B" host test-client-configuration --dir "$H1"
		ok $([ $RC -eq 4 ] && [ "$(field AttestationStatus)" = InsecureHostConfiguration ] &&
			[ "$(field AttestationSubstatus)" = "$substatus" ] &&
			grep -q "failed attestation: InsecureHostConfiguration ($substatus)" <<<"$ERR"; echo $?) \
			"$setting: InsecureHostConfiguration ($substatus), exit 4"
	done <<'EOF'
secure_boot=off SecureBoot, SecureBootSettings
iommu=off Iommu
hvci=off HypervisorEnforcedCodeIntegrityPolicy
vsm=off VirtualSecureMode
ci_policy=Other CodeIntegrityPolicy
firmware=2.0 SecureBootSettings
resumed=yes FullBoot
pagefile_encryption=off PagefileEncryption
hibernation=on HibernationEnabled
dumps=on DumpsEnabled
EOF
	run "$B" host set-profile --dir "$H1" --profile baseline
	run "$B" host test-client-configuration --dir "$H1"
	ok $([ $RC -eq 0 ] && [ "$(field AttestationStatus)" = Passed ]; echo $?) \
		"back to the baseline: Passed again (same EK, same pinned AK)"
	mark "overrides"

	# ---- a registration removed and added back while hgs serve runs ----
	# (the serving node remembers accepted registrations: another process's
	# change must reach the very next attestation)
	run "$B" hgs remove-tpm-host --dir "$W/hgs-tpm" --name FabricHost1
	ok $RC "remove-tpm-host FabricHost1 while hgs serve runs"
	run "$B" host test-client-configuration --dir "$H1"
	ok $([ $RC -eq 4 ] && [ "$(field AttestationStatus)" = UnauthorizedHost ] &&
		grep -q "no TPM host named 'FabricHost1' is registered" <<<"$OUT$ERR"; echo $?) \
		"the next attestation of the removed host: UnauthorizedHost"
	run "$B" hgs add-tpm-host --dir "$W/hgs-tpm" --name FabricHost1 --platform-identifier "$W/h1.pid.json"
	ok $RC "add-tpm-host FabricHost1 again"
	run "$B" host test-client-configuration --dir "$H1"
	ok $([ $RC -eq 0 ] && [ "$(field AttestationStatus)" = Passed ]; echo $?) \
		"added back: Passed again ($(field Reason | cut -c1-60))"
	mark "registration removed and added back"

	# ---- unregistered host, fallback, HGS down ----
	run "$B" host test-client-configuration --dir "$H2"
	ok $([ $RC -eq 4 ] && [ "$(field AttestationStatus)" = UnauthorizedHost ]; echo $?) \
		"an unregistered host: UnauthorizedHost, exit 4 ($(field Reason | cut -c1-60)...)"
	DEAD="http://hgs1.relecloud.com:1"
	run "$B" host set-client-configuration --dir "$H1" --attestation-url "$DEAD/Attestation" \
		--key-protection-url "$DEAD/KeyProtection" --fallback-attestation-url "$URL/Attestation" \
		--fallback-key-protection-url "$URL/KeyProtection" --resolve "$RESOLVE" \
		--resolve "hgs1.relecloud.com:1:$HGS_ADDR"
	ok $RC "set-client-configuration with a fallback"
	run "$B" host test-client-configuration --dir "$H1"
	ok $([ $RC -eq 0 ] && [ "$(field IsFallbackInUse)" = True ] && [ "$(field AttestationStatus)" = Passed ]; echo $?) \
		"the primary HGS is down: the fallback attests, IsFallbackInUse True"
	stop_bg HGS
	ok $STOP_RC "hgs serve stops on SIGTERM"
	run "$B" host test-client-configuration --dir "$H1"
	ok $([ $RC -eq 4 ] && [ "$(field AttestationStatus)" = TransientError ] &&
		grep -q "cannot reach" <<<"$ERR"; echo $?) "no HGS answers: TransientError, exit 4"
	mark "TPM mode done"

	# ---- host-key mode ----
	run "$B" hgs init --dir "$W/hgs-hk" --name MyHgsService --domain relecloud.com --trust hostkey \
		--listen "$HK_ADDR:0"
	ok $RC "hgs init --trust hostkey"
	start_hgs HK "$B" "$W/hgs-hk"
	ok $? "host-key HGS is ready"
	run "$B" host get-host-key --dir "$H1" --out "$W/h1.hostkey.pem"
	ok $([ $RC -eq 0 ] && grep -q "BEGIN PUBLIC KEY" "$W/h1.hostkey.pem" && ! grep -q PRIVATE "$W/h1.hostkey.pem"; echo $?) \
		"get-host-key exports the public half only"
	run "$B" hgs add-host-key --dir "$W/hgs-hk" --name FabricHost1 --key "$W/h1.hostkey.pem"
	ok $RC "hgs add-host-key FabricHost1"
	HKURL="http://hgs.relecloud.com:$HK_PORT"
	for h in "$H1" "$H2"; do
		run "$B" host set-client-configuration --dir "$h" --attestation-url "$HKURL/Attestation" \
			--key-protection-url "$HKURL/KeyProtection" --resolve "hgs.relecloud.com:$HK_PORT:$HK_ADDR"
	done
	run "$B" host test-client-configuration --dir "$H1"
	ok $([ $RC -eq 0 ] && [ "$(field AttestationStatus)" = Passed ] &&
		[ "$(field AttestationOperationMode)" = TrustHostKey ]; echo $?) "host-key mode: a registered host key is Passed"
	run "$B" host test-client-configuration --dir "$H2"
	ok $([ $RC -eq 4 ] && [ "$(field AttestationStatus)" = UnauthorizedHost ] &&
		grep -q "not registered" <<<"$ERR"; echo $?) "host-key mode: an unknown host key is UnauthorizedHost"
	stop_bg HK
	ok $STOP_RC "host-key HGS stops"
	mark "host-key mode done"

	# ---- AD mode: the fabric verbs must exist (a missing verb fails, it is never skipped) ----
	run "$B" fabric --help
	ok $([ $RC -eq 0 ] && grep -q '^usage: hgslab fabric' <<<"$OUT" && grep -q '^  serve ' <<<"$OUT"; echo $?) \
		"fabric --help: the fabric directory and its DC are built"
	run "$B" hgs add-trusted-domain --help
	ok $([ $RC -eq 0 ] && grep -q '^usage: hgslab hgs add-trusted-domain' <<<"$OUT"; echo $?) \
		"hgs add-trusted-domain --help"
	F="$W/fabric"
	run "$B" fabric new --dir "$F" --domain fabrikam.com --listen "$DC_ADDR:0"
	ok $RC "fabric new fabrikam.com"
	run "$B" fabric add-group --dir "$F" --name GuardedHosts
	ok $RC "fabric add-group GuardedHosts"
	"$B" host get-host-key --dir "$H2" --out "$W/h2.hostkey.pem" >/dev/null
	run "$B" fabric add-computer --dir "$F" --name FabricHost1 --key "$W/h1.hostkey.pem"
	ok $RC "fabric add-computer FabricHost1 (its machine key)"
	run "$B" fabric add-computer --dir "$F" --name FabricHost2 --key "$W/h2.hostkey.pem"
	ok $RC "fabric add-computer FabricHost2"
	run "$B" fabric add-group-member --dir "$F" --group GuardedHosts --computer FabricHost1
	ok $RC "FabricHost1 joins GuardedHosts"
	run "$B" fabric get-group --dir "$F" --name GuardedHosts --json
	SID=$(sed -n 's/.*"Sid": "\(S-1-5-21-[0-9-]*\)".*/\1/p' <<<"$OUT" | head -n1)
	ok $([ -n "$SID" ]; echo $?) "the group's SID ($SID)"
	run "$B" fabric export-trust --dir "$F" --out "$W/trust.json"
	ok $RC "fabric export-trust"
	start_bg DC "$B" fabric serve --dir "$F"
	next_line DC
	DCURL=$(sed -n 's/^fabric: DC for fabrikam.com serving on \(http:[^ ]*\)$/\1/p' <<<"$LINE")
	ok $([ -n "$DCURL" ]; echo $?) "the DC is ready: $LINE"
	DC_PORT=${DCURL##*:}
	run "$B" hgs init --dir "$W/hgs-ad" --name MyHgsService --domain relecloud.com --trust ad \
		--listen "$AD_ADDR:0"
	ok $RC "hgs init --trust ad"
	run "$B" hgs add-trusted-domain --dir "$W/hgs-ad" --file "$W/trust.json"
	ok $RC "hgs add-trusted-domain fabrikam.com"
	run "$B" hgs add-host-group --dir "$W/hgs-ad" --name GuardedHosts --sid "$SID"
	ok $RC "hgs add-host-group GuardedHosts"
	start_hgs AD "$B" "$W/hgs-ad"
	ok $? "AD-mode HGS is ready"
	ADURL="http://hgs.relecloud.com:$AD_PORT"
	for h in "$H1" "$H2"; do
		run "$B" host set-client-configuration --dir "$h" --attestation-url "$ADURL/Attestation" \
			--key-protection-url "$ADURL/KeyProtection" --dc-url "http://dc01.fabrikam.com:$DC_PORT" \
			--resolve "hgs.relecloud.com:$AD_PORT:$AD_ADDR" --resolve "dc01.fabrikam.com:$DC_PORT:$DC_ADDR"
	done
	run "$B" host test-client-configuration --dir "$H1"
	ok $([ $RC -eq 0 ] && [ "$(field AttestationStatus)" = Passed ] &&
		[ "$(field AttestationOperationMode)" = TrustActiveDirectory ]; echo $?) \
		"AD mode: a member of GuardedHosts is Passed"
	[ $RC -eq 0 ] || sed 's/^/# /' <<<"$ERR"
	run "$B" host test-client-configuration --dir "$H2"
	ok $([ $RC -eq 4 ] && [ "$(field AttestationStatus)" = UnauthorizedHost ]; echo $?) \
		"AD mode: a computer outside the registered group is UnauthorizedHost"
	run "$B" host set-client-configuration --dir "$H2" --dc-url ""
	run "$B" host test-client-configuration --dir "$H2"
	ok $([ $RC -eq 4 ] && [ "$(field AttestationStatus)" = TransientError ] &&
		grep -q "no domain controller" <<<"$ERR"; echo $?) \
		"AD mode without a DC URL: TransientError saying how to set one"
	stop_bg AD
	ok $STOP_RC "AD-mode HGS stops"
	stop_bg DC
	ok $STOP_RC "the DC stops"
	mark "AD mode done"
}

suite "$HGSLAB" 0 release
if [ -n "${HGSLAB_ASAN:-}" ] && built "$HGSLAB_ASAN"; then
	suite "$HGSLAB_ASAN" 1 asan
fi
TAG=""

# ---- nothing survives ----
cleanup
ok $(! pgrep -f "$T" >/dev/null; echo $?) "no swtpm or hgslab process of this test survives"
START=$START0
mark "total"
done_testing
