#!/usr/bin/env bash
# ad_mode.sh - AD-mode attestation end to end, with real processes: the fabric
# domain fabrikam.com (its DC, `hgslab fabric serve`), a second domain
# contoso.com that HGS does not trust (its own DC), and an HGS node in AD mode
# (`hgslab hgs serve`), each on its own loopback address (127.X.Y.2-4, ports
# picked by the kernel and read from the readiness lines).  Hosts get their
# tickets with `hgslab fabric get-ticket`; the attestation request itself is
# built from the documented wire format with openssl, jq and curl, an
# implementation independent of hgslab's own client (the unit test
# test_fabric_ad drives that one).  Checks: a member host is Passed and its
# health certificate verifies with openssl against the node's signer and binds
# its transport key; a non-member, an untrusted domain, a replayed nonce, a
# stolen ticket, an expired ticket and a removed trust are UnauthorizedHost with
# HGS's reasons; a membership change takes effect with the next ticket; the
# attestation log shows every attempt; SIGTERM stops every process with exit 0.
# Runs against the release binary and, when $HGSLAB_ASAN names it, the ASan+UBSan one
# (named but not built: a failure).
. "$(dirname "$0")/lib.sh"

require openssl jq curl

pids=()
# Stop whatever is still running, then remove the trash directory.
cleanup() {
	local p
	for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null; done
	rm -rf "$T"
}
trap cleanup EXIT

# start NAME CMD...: run CMD in the background with stdout on a pipe; wait (at
# most 20 s) for its readiness line and put its URL in $URL and pid in $PID.
start() {
	local name=$1 line fd; shift
	URL="" PID=""
	exec {fd}< <(exec "$@" 2>"$T/$name.err")
	PID=$!
	pids+=("$PID")
	eval "fd_$name=$fd"
	if read -r -t 20 -u "$fd" line && [[ "$line" == *" on http://"* ]]; then
		URL=${line##* on }
		return 0
	fi
	echo "# $name did not get ready: ${line:-no readiness line}"; sed 's/^/#   /' "$T/$name.err"
	return 1
}

# stop PID: SIGTERM, then its exit status.
stop() {
	kill -TERM "$1" 2>/dev/null
	wait "$1"
}

# attest DIR HOST TICKET MACHINE_KEY: POST /Attestation/v1/ad/attest with a fresh
# nonce; the request body stays in DIR/req.json, the decision in $OUT.
attest() {
	local d=$1 host=$2 ticket=$3 key=$4 nonce
	nonce=$(curl -sS --resolve "$HGS_RESOLVE" -X POST -d "{\"host\":\"$host\"}" \
		"$HGS_URL/Attestation/v1/nonce" | jq -r .nonce) || return 1
	{ printf '%s' "$nonce" | base64 -d; cat "$d/tk.der"; } >"$d/msg.bin"
	# ECDSA (DER) for P-256 machine keys, RSA-PSS with a 32-byte salt for RSA ones
	if openssl pkey -in "$key" -noout -text 2>/dev/null | grep -q '^modulus:'; then
		openssl dgst -sha256 -sign "$key" -sigopt rsa_padding_mode:pss \
			-sigopt rsa_pss_saltlen:32 -out "$d/sig.bin" "$d/msg.bin"
	else
		openssl dgst -sha256 -sign "$key" -out "$d/sig.bin" "$d/msg.bin"
	fi
	jq -n --arg host "$host" --arg nonce "$nonce" --rawfile ticket "$ticket" \
		--rawfile tk "$d/tk.pub" --arg sig "$(base64 -w0 "$d/sig.bin")" \
		'{host: $host, nonce: $nonce, ticket: $ticket, transport_key: $tk, signature: $sig}' \
		>"$d/req.json"
	post "$d/req.json"
}

# post FILE: POST FILE to the AD attestation route; the reply in $OUT.
post() {
	OUT=$(curl -sS --resolve "$HGS_RESOLVE" -X POST --data-binary @"$1" \
		"$HGS_URL/Attestation/v1/ad/attest")
}

# status_is STATUS [REASON_TEXT]: the decision in $OUT says so.
status_is() {
	[ "$(jq -r .status <<<"$OUT")" = "$1" ] || { echo "# got: $OUT" | cut -c1-400; return 1; }
	[ -z "${2:-}" ] && return 0
	jq -r .reason <<<"$OUT" | grep -qF "$2" || { echo "# reason: $(jq -r .reason <<<"$OUT")"; return 1; }
}

for bin in "$HGSLAB" ${HGSLAB_ASAN:+"$HGSLAB_ASAN"}; do
	built "$bin" || continue
	tag=$(basename "$(dirname "$(dirname "$bin")")")/$(basename "$bin")
	d="$T/$(echo "$tag" | tr '/' '_')"
	mkdir -p "$d"
	net="127.$((RANDOM % 200 + 20)).$((RANDOM % 250 + 1))"
	pids=()

	run "$bin" fabric --help
	ok $([ $RC -eq 0 ] && grep -q '^  get-ticket ' <<<"$OUT" && grep -q '^  export-trust ' <<<"$OUT"; echo $?) \
		"$tag: fabric --help lists the verbs"

	# ---- the fabric directory (New-ADGroup, the computer accounts, membership) ----
	run "$bin" fabric new --dir "$d/fab" --domain fabrikam.com --listen "$net.3:0" --json
	ok $([ $RC -eq 0 ] && jq -e '.DomainSid | test("^S-1-5-21-[0-9]+-[0-9]+-[0-9]+$")' <<<"$OUT" >/dev/null; echo $?) \
		"$tag: fabric new makes fabrikam.com with a domain SID"
	run "$bin" fabric new --dir "$d/contoso" --domain contoso.com --listen "$net.4:0"
	ok $RC "$tag: fabric new makes contoso.com"
	for h in 1 3; do openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$d/h$h.key" 2>/dev/null; done
	openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$d/h2.key" 2>/dev/null
	openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$d/tk.key" 2>/dev/null
	for k in h1 h2 h3 tk; do openssl pkey -in "$d/$k.key" -pubout -out "$d/$k.pub"; done
	openssl pkey -in "$d/tk.key" -pubout -outform DER -out "$d/tk.der"
	check "$tag: add-group GuardedHosts" "$bin" fabric add-group --dir "$d/fab" --name GuardedHosts
	check "$tag: add-computer FabricHost1 (P-256)" "$bin" fabric add-computer --dir "$d/fab" --name FabricHost1 --key "$d/h1.pub"
	check "$tag: add-computer FabricHost2 (RSA)" "$bin" fabric add-computer --dir "$d/fab" --name FabricHost2 --key "$d/h2.pub"
	run "$bin" fabric add-computer --dir "$d/fab" --name FabricHost9 --key "$d/h1.key"
	ok $([ $RC -eq 2 ] && grep -q 'private key' <<<"$ERR"; echo $?) "$tag: add-computer refuses a private key file"
	check "$tag: add-group-member FabricHost1" "$bin" fabric add-group-member --dir "$d/fab" --group GuardedHosts --computer FabricHost1
	run "$bin" fabric get-group --dir "$d/fab" --name GuardedHosts --json
	sid=$(jq -r .Sid <<<"$OUT")
	ok $([ $RC -eq 0 ] && [ "$(jq -r '.Members | join(",")' <<<"$OUT")" = FabricHost1 ] && [[ "$sid" == S-1-5-21-*-1103 ]]; echo $?) \
		"$tag: get-group shows GuardedHosts' SID and members"
	run "$bin" fabric get-computer --dir "$d/fab" --name FabricHost2 --json
	ok $([ $RC -eq 0 ] && [ "$(jq -r '.MemberOf | join(",")' <<<"$OUT")" = "Domain Computers" ]; echo $?) \
		"$tag: get-computer shows FabricHost2 in Domain Computers only"
	check "$tag: contoso: add-group, add-computer FabricHost3, membership" bash -c \
		"'$bin' fabric add-group --dir '$d/contoso' --name GuardedHosts && '$bin' fabric add-computer --dir '$d/contoso' --name FabricHost3 --key '$d/h3.pub' && '$bin' fabric add-group-member --dir '$d/contoso' --group GuardedHosts --computer FabricHost3"
	check "$tag: export-trust" "$bin" fabric export-trust --dir "$d/fab" --out "$d/trust.json"

	# ---- HGS in AD mode: the host group and the trust ----
	check "$tag: hgs init --trust ad" "$bin" hgs init --dir "$d/node" --name MyHgsService --domain relecloud.com --trust ad --listen "$net.2:0"
	check "$tag: hgs add-host-group with the group's SID" "$bin" hgs add-host-group --dir "$d/node" --name GuardedHosts --sid "$sid"
	run "$bin" hgs add-trusted-domain --dir "$d/node" --file "$d/trust.json" --json
	ok $([ $RC -eq 0 ] && [ "$(jq -r .Name <<<"$OUT")" = fabrikam.com ] && [ "$(jq -r .Direction <<<"$OUT")" = Outbound ]; echo $?) \
		"$tag: hgs add-trusted-domain fabrikam.com"
	run "$bin" hgs add-trusted-domain --dir "$d/node" --file "$d/trust.json"
	ok $([ $RC -eq 1 ] && grep -q 'already trusted' <<<"$ERR"; echo $?) "$tag: a second add of the same trust is refused"
	jq '.dc_thumbprint = "00"' "$d/trust.json" >"$d/bad-trust.json"
	run "$bin" hgs add-trusted-domain --dir "$d/node" --file "$d/bad-trust.json"
	ok $([ $RC -eq 2 ] && grep -q 'does not match' <<<"$ERR"; echo $?) "$tag: a damaged trust document exits 2"

	# ---- the processes ----
	start dc_fab "$bin" fabric serve --dir "$d/fab"
	ok $? "$tag: fabrikam DC ready ($URL)"
	DC_URL=$URL DC_PID=$PID
	start dc_con "$bin" fabric serve --dir "$d/contoso"
	ok $? "$tag: contoso DC ready ($URL)"
	DC2_URL=$URL DC2_PID=$PID
	start hgs "$bin" hgs serve --dir "$d/node"
	ok $? "$tag: HGS ready ($URL)"
	HGS_PID=$PID
	hgs_port=${URL##*:}
	HGS_URL="http://hgs.relecloud.com:$hgs_port"
	HGS_RESOLVE="hgs.relecloud.com:$hgs_port:$net.2"
	dc_port=${DC_URL##*:}
	run "$bin" fabric serve --dir "$d/fab" --listen "$net.5:0"
	ok $([ $RC -ne 0 ] && grep -q 'already served' <<<"$ERR"; echo $?) "$tag: a second DC on the same directory is refused"

	# ---- tickets (kinit) ----
	run "$bin" fabric get-ticket --dc-url "http://dc01.fabrikam.com:$dc_port" \
		--resolve "dc01.fabrikam.com:$dc_port:$net.3" --computer FabricHost1 --key "$d/h1.key" \
		--out "$d/t1.jws" --json
	ok $([ $RC -eq 0 ] && jq -e --arg s "$sid" '[.Groups[].Sid] | index($s)' <<<"$OUT" >/dev/null &&
		[ "$(stat -c %a "$d/t1.jws")" = 600 ]; echo $?) \
		"$tag: get-ticket for FabricHost1 via dc01.fabrikam.com lists GuardedHosts"
	run "$bin" fabric get-ticket --dc-url "$DC_URL" --computer FabricHost1 --key "$d/h2.key" --out "$d/x.jws"
	ok $([ $RC -eq 4 ] && grep -q KDC_ERR_PREAUTH_FAILED <<<"$ERR" && [ ! -e "$d/x.jws" ]; echo $?) \
		"$tag: get-ticket with another machine key is refused (KDC_ERR_PREAUTH_FAILED)"
	run "$bin" fabric get-ticket --dc-url "$DC_URL" --computer FabricHost7 --key "$d/h1.key" --out "$d/x.jws"
	ok $([ $RC -eq 4 ] && grep -q KDC_ERR_C_PRINCIPAL_UNKNOWN <<<"$ERR"; echo $?) \
		"$tag: get-ticket for an unknown computer is refused"
	run "$bin" fabric get-ticket --dc-url "http://$net.9:9" --computer FabricHost1 --key "$d/h1.key" --out "$d/x.jws"
	ok $([ $RC -eq 1 ] && grep -q 'cannot reach' <<<"$ERR"; echo $?) "$tag: get-ticket from no DC fails (exit 1)"
	check "$tag: get-ticket FabricHost2 (RSA machine key)" "$bin" fabric get-ticket --dc-url "$DC_URL" --computer FabricHost2 --key "$d/h2.key" --out "$d/t2.jws"
	check "$tag: get-ticket FabricHost3 from contoso's DC" "$bin" fabric get-ticket --dc-url "$DC2_URL" --computer FabricHost3 --key "$d/h3.key" --out "$d/t3.jws"

	# ---- attestation ----
	attest "$d" FabricHost1 "$d/t1.jws" "$d/h1.key"
	status_is Passed; ok $? "$tag: FabricHost1 (member of GuardedHosts) is Passed"
	jq -r .health_certificate <<<"$OUT" | base64 -d >"$d/hc.der" 2>/dev/null
	openssl x509 -inform DER -in "$d/hc.der" -out "$d/hc.pem" 2>/dev/null
	ok $(openssl verify -CAfile "$d/node/keys/attestation-signer.crt" "$d/hc.pem" >/dev/null 2>&1 &&
		openssl x509 -in "$d/hc.pem" -noout -subject | grep -q 'CN = FabricHost1' &&
		openssl x509 -in "$d/hc.pem" -noout -pubkey | cmp -s - "$d/tk.pub"; echo $?) \
		"$tag: the health certificate verifies with openssl and binds the transport key"
	post "$d/req.json"
	status_is UnauthorizedHost "already used"; ok $? "$tag: the same request replayed is refused"
	attest "$d" FabricHost2 "$d/t2.jws" "$d/h2.key"
	status_is UnauthorizedHost "FabricHost2 is not a member of any registered guarded host group"
	ok $? "$tag: FabricHost2 (not a member) is UnauthorizedHost"
	attest "$d" FabricHost3 "$d/t3.jws" "$d/h3.key"
	status_is UnauthorizedHost "domain 'contoso.com' is not trusted by relecloud.com"
	ok $? "$tag: a host of an untrusted domain is refused"
	attest "$d" FabricHost1 "$d/t1.jws" "$d/h2.key"
	status_is UnauthorizedHost "does not verify with the machine key"
	ok $? "$tag: a stolen ticket without its machine key is refused"
	echo 1000 >"$d/node/clock-offset"
	attest "$d" FabricHost1 "$d/t1.jws" "$d/h1.key"
	status_is UnauthorizedHost "expired"; ok $? "$tag: a ticket expired at the HGS clock is refused"
	rm -f "$d/node/clock-offset"
	# membership: FabricHost2 joins GuardedHosts while the DC runs; its old ticket stays as it was
	check "$tag: add-group-member FabricHost2 while the DC runs" "$bin" fabric add-group-member --dir "$d/fab" --group GuardedHosts --computer FabricHost2
	attest "$d" FabricHost2 "$d/t2.jws" "$d/h2.key"
	status_is UnauthorizedHost "not a member"; ok $? "$tag: FabricHost2's old ticket still lacks the group"
	"$bin" fabric get-ticket --dc-url "$DC_URL" --computer FabricHost2 --key "$d/h2.key" --out "$d/t2.jws" >/dev/null
	attest "$d" FabricHost2 "$d/t2.jws" "$d/h2.key"
	status_is Passed; ok $? "$tag: with a fresh ticket FabricHost2 is Passed"
	run curl -sS --resolve "$HGS_RESOLVE" -X POST -d '{"host":"FabricHost1","ticket":"x"}' \
		-o /dev/null -w '%{http_code}' "$HGS_URL/Attestation/v1/ad/attest"
	ok $([ "$OUT" = 400 ]; echo $?) "$tag: a malformed request gets HTTP 400"

	# ---- the trust ----
	run "$bin" hgs get-trusted-domain --dir "$d/node"
	ok $([ $RC -eq 0 ] && grep -q '^fabrikam.com .*Outbound' <<<"$OUT"; echo $?) "$tag: get-trusted-domain lists fabrikam.com"
	check "$tag: remove-trusted-domain fabrikam.com" "$bin" hgs remove-trusted-domain --dir "$d/node" --domain fabrikam.com
	attest "$d" FabricHost1 "$d/t1.jws" "$d/h1.key"
	status_is UnauthorizedHost "domain 'fabrikam.com' is not trusted"; ok $? "$tag: without the trust FabricHost1 is refused"
	run "$bin" hgs get-trusted-domain --dir "$d/node" --json
	ok $([ $RC -eq 0 ] && [ "$(jq length <<<"$OUT")" = 0 ]; echo $?) "$tag: get-trusted-domain --json is empty"

	# ---- the attestation log ----
	run "$bin" hgs get-attestation-log --dir "$d/node" --json
	ok $([ $RC -eq 0 ] && [ "$(jq length <<<"$OUT")" -ge 10 ] &&
		[ "$(jq '[.[] | select(.Mode != "ad")] | length' <<<"$OUT")" = 0 ] &&
		[ "$(jq '[.[] | select(.Status == "Passed")] | length' <<<"$OUT")" = 2 ]; echo $?) \
		"$tag: get-attestation-log shows every attempt in ad mode, two Passed"
	run "$bin" hgs get-attestation-log --dir "$d/node" --host FabricHost3
	ok $([ $RC -eq 0 ] && grep -q 'UnauthorizedHost' <<<"$OUT"; echo $?) "$tag: get-attestation-log --host FabricHost3"

	# ---- stop ----
	stop "$HGS_PID"; rc_h=$?
	stop "$DC_PID"; rc_d=$?
	stop "$DC2_PID"; rc_c=$?
	ok $([ $rc_h -eq 0 ] && [ $rc_d -eq 0 ] && [ $rc_c -eq 0 ]; echo $?) "$tag: SIGTERM stops HGS and both DCs with exit 0 ($rc_h $rc_d $rc_c)"
	ok $([ ! -e "$d/fab/dc.pid" ] && grep -q 'ticket .* issued to FabricHost1' "$d/fab/dc.log" &&
		grep -q 'stopped' "$d/fab/dc.log"; echo $?) "$tag: dc.log records the tickets; the pid file is gone"
	pids=()
	eval "exec {fd_dc_fab}<&- {fd_dc_con}<&- {fd_hgs}<&-"
done
done_testing
