#!/usr/bin/env bash
# hgs.sh - the HGS node from the outside: `hgs init`, every admin verb (human
# and --json output, error cases and their exit codes), `hgs serve` on its
# own loopback address (readiness line read through a fifo, never a sleep),
# GET info, a nonce, a full host-key attestation round trip driven with curl
# and the openssl CLI (Passed, replay, unknown key, bad signature, expired
# nonce on the lab clock, another trust mode), the attestation log, SIGTERM
# (exit 0) and a restart that keeps registrations, the log and the used
# nonces (a nonce issued before it is good once after it, a used one stays
# used).
# Runs against $HGSLAB and, when set, $HGSLAB_ASAN (named but not built: a failure).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lab.sh"

require openssl curl base64

fixtures="$ROOT/tests/data/tcglogs"   # real firmware logs (tpm2-tools), kept in the repository

# pem_json FILE: FILE's text as a JSON string literal.
pem_json() { awk 'BEGIN { printf "\"" } { printf "%s\\n", $0 } END { printf "\"" }' "$1"; }

# json_field NAME: the string member NAME of the JSON on stdin (values without quotes inside).
json_field() { sed -n 's/.*"'"$1"'": *"\([^"]*\)".*/\1/p' | head -n1; }

# attest_req HOST NONCE_B64 SIGNING_KEY PRESENTED_PUB TK_PUB: a host-key attest body.
attest_req() {
	local dir="$T/att.$RANDOM"
	mkdir -p "$dir"
	printf '%s' "$2" | base64 -d >"$dir/nonce.bin"
	openssl pkey -pubin -in "$5" -outform DER -out "$dir/tk.der"
	cat "$dir/nonce.bin" "$dir/tk.der" >"$dir/msg.bin"
	openssl dgst -sha256 -sign "$3" -out "$dir/sig.bin" "$dir/msg.bin"
	printf '{"host":"%s","nonce":"%s","host_key":%s,"transport_key":%s,"signature":"%s"}' \
		"$1" "$2" "$(pem_json "$4")" "$(pem_json "$5")" "$(base64 -w0 "$dir/sig.bin")"
}

# nonce: a fresh nonce from the running server.
nonce() { curl -s -X POST -d '{"host":"FabricHost1"}' "$URL/Attestation/v1/nonce" | json_field nonce; }

# attest BODY: POST it, reply in $REPLY_BODY.
attest() {
	REPLY_BODY=$(curl -s -X POST --data-binary "$1" "$URL/Attestation/v1/hostkey/attest")
}

# Keys and certificates the tests register, made with the openssl CLI.
k="$T/keys"
mkdir -p "$k"
(
	cd "$k" || exit 1
	for n in hk stranger ek1 ek2 ca rogue; do
		openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out $n.key 2>/dev/null
		openssl pkey -in $n.key -pubout -out $n.pub
	done
	openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out tk.key 2>/dev/null
	openssl pkey -in tk.key -pubout -out tk.pub
	openssl req -x509 -key ca.key -subj "/CN=Lab TPM Vendor CA" -days 30 -out ca.pem 2>/dev/null
	openssl req -x509 -key rogue.key -subj "/CN=Rogue Vendor" -days 30 -out rogue.pem 2>/dev/null
	openssl req -new -key ek1.key -subj "/CN=EK FabricHost1" -out ek1.csr
	openssl x509 -req -in ek1.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 30 -out ek1.pem 2>/dev/null
	openssl req -new -key ek2.key -subj "/CN=EK RogueHost" -out ek2.csr
	openssl x509 -req -in ek2.csr -CA rogue.pem -CAkey rogue.key -CAcreateserial -days 30 -out ek2.pem 2>/dev/null
	for h in 1 2; do
		printf '{"format":"hgslab-platform-identifier","version":1,"host":"Host%s","ek_public":%s,"ek_certificate":%s}\n' \
			$h "$(pem_json ek$h.pub)" "$(pem_json ek$h.pem)" >pid$h.json
	done
	printf '{"format":"hgslab-platform-identifier","version":1,"host":"Host3","ek_public":%s}\n' \
		"$(pem_json stranger.pub)" >pid3.json
	printf '{"format":"hgslab-ci-policy/1","name":"CI1","policy_id":"1","rules":[]}' >ci1.bin
	: >empty.bin
	printf 'not pem\n' >junk.txt
) || { echo "Bail out! cannot make test keys with openssl"; exit 1; }

# One full run against binary $1.
suite() {
	local bin=$1 tag d rc addr n0 n1 count body
	tag=$(basename "$(dirname "$(dirname "$bin")")")
	d="$T/$tag-node"
	addr="127.0.0.$((($$ + ${#tag}) % 200 + 20))"

	# ---- init ----
	run "$bin" hgs init --dir "$d" --name MyHgsService --domain relecloud.com --trust tpm \
		--listen "$addr:0"
	ok $RC "$tag: init exits 0"
	ok $(grep -q "^initialized HGS 'MyHgsService' (relecloud.com, tpm attestation)" <<<"$OUT" &&
		grep -qE '^AttestationOperationMode +: TrustTpm$' <<<"$OUT"; echo $?) "$tag: init prints the new node"
	ok $([ "$(stat -c %a "$d")" = 700 ] && [ "$(stat -c %a "$d/hgs.db")" = 600 ] &&
		[ "$(stat -c %a "$d/keys/attestation-signer.key")" = 600 ] &&
		[ "$(stat -c %a "$d/keys/kps-signing.key")" = 600 ] &&
		[ "$(stat -c %a "$d/keys/kps-encryption.key")" = 600 ] &&
		[ "$(stat -c %a "$d/keys/attestation-signer.crt")" = 644 ]; echo $?) \
		"$tag: node dir 0700, store and private keys 0600"
	ok $(openssl x509 -in "$d/keys/attestation-signer.crt" -noout -subject | grep -q 'CN = MyHgsService Attestation Signer'; echo $?) \
		"$tag: attestation signer certificate"
	run "$bin" hgs init --dir "$d" --name MyHgsService --domain relecloud.com --listen "$addr:0"
	ok $([ $RC -eq 1 ] && grep -q "already an HGS node; use --force" <<<"$ERR"; echo $?) "$tag: init refuses an existing node"
	run "$bin" hgs init --dir "$T/$tag-bad" --name "My Hgs" --domain relecloud.com --listen "$addr:0"
	ok $([ $RC -eq 2 ] && grep -q "invalid HGS name" <<<"$ERR" && [ ! -e "$T/$tag-bad" ]; echo $?) "$tag: init: bad name exits 2, creates nothing"
	run "$bin" hgs init --dir "$T/$tag-bad" --name X --domain relecloud.com --listen nowhere
	ok $([ $RC -eq 2 ] && grep -q "invalid listen address 'nowhere'" <<<"$ERR"; echo $?) "$tag: init: bad listen address exits 2"
	run "$bin" hgs init --dir "$T/$tag-bad" --name X --domain relecloud.com --listen "$addr:0" --trust magic
	ok $([ $RC -eq 2 ] && [ ! -e "$T/$tag-bad" ]; echo $?) "$tag: init: bad trust mode exits 2"
	run "$bin" hgs get-server --dir "$T/nonexistent"
	ok $([ $RC -eq 1 ] && grep -q "is not an HGS node" <<<"$ERR"; echo $?) "$tag: a missing node says how to create one"

	# ---- get-server / set-server ----
	run "$bin" hgs get-server --dir "$d" --json
	ok $([ $RC -eq 0 ] && grep -q '"TrustMode": "tpm"' <<<"$OUT" && grep -q '"Name": "MyHgsService"' <<<"$OUT"; echo $?) "$tag: get-server --json"
	run "$bin" hgs set-server --dir "$d"
	ok $([ $RC -eq 2 ] && grep -q "nothing to change" <<<"$ERR"; echo $?) "$tag: set-server without a change exits 2"
	run "$bin" hgs set-server --dir "$d" --trust hostkey --json
	ok $([ $RC -eq 0 ] && grep -q '"AttestationOperationMode": "TrustHostKey"' <<<"$OUT"; echo $?) "$tag: set-server --trust hostkey"
	run "$bin" hgs set-server --dir "$d" --tpm-vendor-ca "$k/junk.txt"
	ok $([ $RC -eq 2 ] && grep -q "invalid TPM vendor CA" <<<"$ERR"; echo $?) "$tag: set-server: a bad vendor CA file exits 2"

	# ---- attestation policies ----
	run "$bin" hgs get-attestation-policy --dir "$d"
	ok $([ $RC -eq 0 ] && grep -qE '^Hgs_BitLockerEnabled +Disabled +False' <<<"$OUT" &&
		grep -qE '^Hgs_SecureBootEnabled +Enabled +True' <<<"$OUT" && grep -qE '^-+ +-+' <<<"$OUT"; echo $?) \
		"$tag: get-attestation-policy shows default states as a table"
	run "$bin" hgs get-attestation-policy --dir "$d" --json
	ok $([ $RC -eq 0 ] && [ "$(grep -c '"Name": "Hgs_' <<<"$OUT")" -eq 14 ]; echo $?) "$tag: get-attestation-policy --json lists 14 policies"
	run "$bin" hgs disable-attestation-policy --dir "$d" --name Hgs_SecureBootEnabled
	ok $([ $RC -eq 1 ] && grep -q "is locked and cannot be disabled" <<<"$ERR"; echo $?) "$tag: a locked policy cannot be disabled"
	run "$bin" hgs disable-attestation-policy --dir "$d" --name Hgs_IommuEnabled --json
	ok $([ $RC -eq 0 ] && grep -q '"PolicyState": "Disabled"' <<<"$OUT"; echo $?) "$tag: disable-attestation-policy"
	run "$bin" hgs enable-attestation-policy --dir "$d" --name Hgs_IommuEnabled
	ok $([ $RC -eq 0 ] && grep -qE '^Hgs_IommuEnabled +Enabled' <<<"$OUT"; echo $?) "$tag: enable-attestation-policy"
	run "$bin" hgs enable-attestation-policy --dir "$d" --name Hgs_Nope
	ok $([ $RC -eq 1 ] && grep -q "no attestation policy is named 'Hgs_Nope'" <<<"$ERR"; echo $?) "$tag: unknown policy name"

	# ---- host keys ----
	run "$bin" hgs add-host-key --dir "$d" --name FabricHost1 --key "$k/hk.pub"
	ok $([ $RC -eq 0 ] && grep -qE '^FabricHost1 +ec-p256 +[0-9A-F]{64} ' <<<"$OUT"; echo $?) "$tag: add-host-key"
	run "$bin" hgs add-host-key --dir "$d" --name FabricHost1 --key "$k/stranger.pub"
	ok $([ $RC -eq 1 ] && grep -q "a host key named 'FabricHost1' is already registered" <<<"$ERR"; echo $?) "$tag: add-host-key: duplicate name"
	run "$bin" hgs add-host-key --dir "$d" --name FabricHost9 --key "$k/hk.pub"
	ok $([ $RC -eq 1 ] && grep -q "already registered as host key 'FabricHost1'" <<<"$ERR"; echo $?) "$tag: add-host-key: duplicate key"
	run "$bin" hgs add-host-key --dir "$d" --name FabricHost9 --key "$k/hk.key"
	ok $([ $RC -eq 2 ] && grep -q "private key" <<<"$ERR"; echo $?) "$tag: add-host-key: a private key file is refused"
	run "$bin" hgs add-host-key --dir "$d" --name FabricHost9 --key "$k/junk.txt"
	ok $([ $RC -eq 2 ] && grep -q "invalid host key" <<<"$ERR"; echo $?) "$tag: add-host-key: garbage exits 2"
	run "$bin" hgs add-host-key --dir "$d" --name FabricHost9 --key "$k/missing.pub"
	ok $([ $RC -eq 2 ] && grep -q "cannot read the host key" <<<"$ERR"; echo $?) "$tag: add-host-key: a missing file exits 2"
	run "$bin" hgs add-host-key --dir "$d" --name Temp --key "$k/stranger.pub" --json
	ok $([ $RC -eq 0 ] && grep -q '"Name": "Temp"' <<<"$OUT"; echo $?) "$tag: add-host-key --json"
	run "$bin" hgs remove-host-key --dir "$d" --name Temp
	ok $([ $RC -eq 0 ] && grep -q "removed host key 'Temp'" <<<"$OUT"; echo $?) "$tag: remove-host-key"
	run "$bin" hgs remove-host-key --dir "$d" --name Temp
	ok $([ $RC -eq 1 ] && grep -q "no host key is registered as 'Temp'" <<<"$ERR"; echo $?) "$tag: remove-host-key: unknown name"
	run "$bin" hgs get-host-key --dir "$d" --json
	ok $([ $RC -eq 0 ] && grep -q '"Name": "FabricHost1"' <<<"$OUT" && ! grep -q Temp <<<"$OUT"; echo $?) "$tag: get-host-key --json"

	# ---- host groups ----
	run "$bin" hgs add-host-group --dir "$d" --name GuardedHosts --sid S-1-5-21-3623811015-3361044348-30300820-1013
	ok $([ $RC -eq 0 ] && grep -q '^GuardedHosts ' <<<"$OUT"; echo $?) "$tag: add-host-group"
	run "$bin" hgs add-host-group --dir "$d" --name Bad --sid GuardedHosts
	ok $([ $RC -eq 2 ] && grep -q "invalid SID" <<<"$ERR"; echo $?) "$tag: add-host-group: bad SID exits 2"
	run "$bin" hgs add-host-group --dir "$d" --name Other --sid S-1-5-21-3623811015-3361044348-30300820-1013
	ok $([ $RC -eq 1 ] && grep -q "already registered as host group 'GuardedHosts'" <<<"$ERR"; echo $?) "$tag: add-host-group: duplicate SID"
	run "$bin" hgs get-host-group --dir "$d" --name GuardedHosts --json
	ok $([ $RC -eq 0 ] && grep -q '"Sid": "S-1-5-21-3623811015-3361044348-30300820-1013"' <<<"$OUT"; echo $?) "$tag: get-host-group --json"

	# ---- CI and TPM policies ----
	run "$bin" hgs add-ci-policy --dir "$d" --name CI1 --policy "$k/ci1.bin"
	ok $([ $RC -eq 0 ] && grep -q '^CI1 ' <<<"$OUT"; echo $?) "$tag: add-ci-policy"
	run "$bin" hgs add-ci-policy --dir "$d" --name CI2 --policy "$k/ci1.bin"
	ok $([ $RC -eq 1 ] && grep -q "already registered as CI policy 'CI1'" <<<"$ERR"; echo $?) "$tag: add-ci-policy: same file twice"
	run "$bin" hgs add-ci-policy --dir "$d" --name CI3 --policy "$k/empty.bin"
	ok $([ $RC -eq 2 ] && grep -q "1 to" <<<"$ERR"; echo $?) "$tag: add-ci-policy: empty file (exit 2)"
	run "$bin" hgs get-ci-policy --dir "$d"
	ok $([ $RC -eq 0 ] && grep -qE '^CI1 +71 ' <<<"$OUT"; echo $?) "$tag: get-ci-policy"
	run "$bin" hgs remove-ci-policy --dir "$d" --name CI1 --json
	ok $([ $RC -eq 0 ] && grep -q '"Removed": true' <<<"$OUT"; echo $?) "$tag: remove-ci-policy --json"
	run "$bin" hgs add-tpm-policy --dir "$d" --name Junk --tcglog "$k/junk.txt"
	ok $([ $RC -eq 2 ] && grep -q "cannot be registered as TPM policy 'Junk'" <<<"$ERR"; echo $?) "$tag: add-tpm-policy: not a TCG log (exit 2)"
	run "$bin" hgs add-tpm-policy --dir "$d" --name Sha1 --tcglog "$fixtures/event-uefi-sha1-log.bin"
	ok $([ $RC -eq 2 ] && grep -qi "sha-256" <<<"$ERR"; echo $?) "$tag: add-tpm-policy: a SHA-1-only log is refused (exit 2)"
	run "$bin" hgs get-tpm-policy --dir "$d"
	ok $([ $RC -eq 0 ] && grep -q "no TPM policy is registered" <<<"$OUT"; echo $?) "$tag: get-tpm-policy with none"
	run "$bin" hgs add-tpm-policy --dir "$d" --name Fedora --tcglog "$fixtures/event-sd-boot-fedora37.bin"
	ok $([ $RC -eq 0 ] && grep -qE '^Fedora +[0-9]+ +[0-9]+ +[0-9A-F]{64} ' <<<"$OUT"; echo $?) "$tag: add-tpm-policy with a real firmware log"
	run "$bin" hgs add-tpm-policy --dir "$d" --name Fedora2 --tcglog "$fixtures/event-sd-boot-fedora37.bin"
	ok $([ $RC -eq 1 ] && grep -q "already registered as TPM policy 'Fedora'" <<<"$ERR"; echo $?) "$tag: add-tpm-policy: the same log twice"
	run "$bin" hgs remove-tpm-policy --dir "$d" --name Fedora
	ok $RC "$tag: remove-tpm-policy"

	# ---- TPM hosts ----
	run "$bin" hgs add-tpm-host --dir "$d" --name Host1 --platform-identifier "$k/pid1.json"
	ok $([ $RC -eq 1 ] && grep -q "no TPM vendor CA is configured" <<<"$ERR"; echo $?) "$tag: add-tpm-host without a vendor CA"
	run "$bin" hgs set-server --dir "$d" --tpm-vendor-ca "$k/ca.pem"
	ok $([ $RC -eq 0 ] && grep -qE '^TpmVendorCa +: Lab TPM Vendor CA$' <<<"$OUT"; echo $?) "$tag: set-server --tpm-vendor-ca"
	run "$bin" hgs add-tpm-host --dir "$d" --name Host1 --platform-identifier "$k/pid1.json"
	ok $([ $RC -eq 0 ] && grep -qE '^Host1 +Host1 +[0-9A-F]{64} +Lab TPM Vendor CA +False' <<<"$OUT"; echo $?) "$tag: add-tpm-host"
	run "$bin" hgs add-tpm-host --dir "$d" --name Host2 --platform-identifier "$k/pid2.json"
	ok $([ $RC -eq 1 ] && grep -q "does not chain to the TPM vendor CA" <<<"$ERR"; echo $?) "$tag: add-tpm-host: EK certificate from another CA"
	run "$bin" hgs add-tpm-host --dir "$d" --name Host2 --platform-identifier "$k/pid2.json" --force
	ok $RC "$tag: add-tpm-host --force"
	run "$bin" hgs add-tpm-host --dir "$d" --name Host3 --platform-identifier "$k/pid3.json"
	ok $([ $RC -eq 1 ] && grep -q "has no EK certificate" <<<"$ERR"; echo $?) "$tag: add-tpm-host: no EK certificate needs --force"
	run "$bin" hgs add-tpm-host --dir "$d" --name Host3 --platform-identifier "$k/junk.txt"
	ok $([ $RC -eq 2 ] && grep -q "invalid platform identifier" <<<"$ERR"; echo $?) "$tag: add-tpm-host: malformed identifier exits 2"
	run "$bin" hgs get-tpm-host --dir "$d" --json
	ok $([ $RC -eq 0 ] && grep -q '"Name": "Host2"' <<<"$OUT" && grep -q '"Forced": true' <<<"$OUT"; echo $?) "$tag: get-tpm-host --json"
	run "$bin" hgs remove-tpm-host --dir "$d" --name Host2
	ok $RC "$tag: remove-tpm-host"
	run "$bin" hgs get-tpm-host --dir "$d" --name Host2
	ok $([ $RC -eq 1 ] && grep -q "no TPM host is registered as 'Host2'" <<<"$ERR"; echo $?) "$tag: get-tpm-host --name of a removed host"

	# ---- serve ----
	if ! start_hgs SERVE "$bin" "$d" MyHgsService; then
		ok 1 "$tag: serve prints its readiness line"; sed 's/^/# /' "$T/serve.err"
		stop_bg SERVE
		return
	fi
	URL=$SERVE_URL
	ok 0 "$tag: serve prints its readiness line ($URL)"
	ok $(grep -q "^http://$addr:[0-9]*$" <<<"$URL"; echo $?) "$tag: serve listens on the node's own address $addr"
	ok $([ "$(cat "$d/hgs.pid")" = "$SERVE_PID" ]; echo $?) "$tag: serve writes its pid file"
	run curl -s "$URL/Attestation/v1/info"
	ok $(grep -q '"name":"MyHgsService"' <<<"$OUT" && grep -q '"mode":"hostkey"' <<<"$OUT" &&
		grep -q 'BEGIN CERTIFICATE' <<<"$OUT"; echo $?) "$tag: GET /Attestation/v1/info"
	n0=$(nonce)
	ok $([ "$(printf '%s' "$n0" | base64 -d | wc -c)" -eq 32 ]; echo $?) "$tag: POST /Attestation/v1/nonce gives 32 bytes"

	body=$(attest_req FabricHost1 "$n0" "$k/hk.key" "$k/hk.pub" "$k/tk.pub")
	attest "$body"
	ok $(grep -q '"status":"Passed"' <<<"$REPLY_BODY"; echo $?) "$tag: host-key attestation: Passed"
	json_field health_certificate <<<"$REPLY_BODY" | base64 -d >"$T/hc.der"
	ok $(openssl x509 -inform DER -in "$T/hc.der" -noout -subject | grep -q 'CN = FabricHost1' &&
		openssl x509 -inform DER -in "$T/hc.der" -out "$T/hc.pem" &&
		openssl verify -CAfile "$d/keys/attestation-signer.crt" "$T/hc.pem" >/dev/null &&
		[ "$(openssl x509 -in "$T/hc.pem" -noout -pubkey)" = "$(cat "$k/tk.pub")" ] &&
		openssl x509 -in "$T/hc.pem" -noout -text | grep -q hostkey; echo $?) \
		"$tag: the health certificate names the host, binds the transport key, verifies with the signer"
	attest "$body"
	ok $(grep -q '"status":"UnauthorizedHost"' <<<"$REPLY_BODY" && grep -q 'already used' <<<"$REPLY_BODY"; echo $?) \
		"$tag: a replayed request is UnauthorizedHost"
	attest "$(attest_req FabricHost1 "$(nonce)" "$k/stranger.key" "$k/stranger.pub" "$k/tk.pub")"
	ok $(grep -q '"status":"UnauthorizedHost"' <<<"$REPLY_BODY" && grep -q 'not registered' <<<"$REPLY_BODY"; echo $?) \
		"$tag: an unknown key is UnauthorizedHost"
	attest "$(attest_req FabricHost1 "$(nonce)" "$k/stranger.key" "$k/hk.pub" "$k/tk.pub")"
	ok $(grep -q '"status":"UnauthorizedHost"' <<<"$REPLY_BODY" && grep -q 'does not verify' <<<"$REPLY_BODY"; echo $?) \
		"$tag: a bad signature is UnauthorizedHost"
	n1=$(nonce)
	echo 400 >"$d/clock-offset"
	attest "$(attest_req FabricHost1 "$n1" "$k/hk.key" "$k/hk.pub" "$k/tk.pub")"
	rm -f "$d/clock-offset"
	ok $(grep -q '"status":"TransientError"' <<<"$REPLY_BODY" && grep -q 'expired' <<<"$REPLY_BODY"; echo $?) \
		"$tag: a nonce expired on the lab clock is refused"
	"$bin" hgs set-server --dir "$d" --trust tpm >/dev/null
	attest "$(attest_req FabricHost1 "$(nonce)" "$k/hk.key" "$k/hk.pub" "$k/tk.pub")"
	"$bin" hgs set-server --dir "$d" --trust hostkey >/dev/null
	ok $(grep -q '"status":"UnauthorizedHost"' <<<"$REPLY_BODY" && grep -q 'attests hosts in tpm mode' <<<"$REPLY_BODY"; echo $?) \
		"$tag: a host-key request to a TPM-mode HGS is refused with the reason"
	run curl -s -o /dev/null -w '%{http_code}' -X POST -d '{"host":' "$URL/Attestation/v1/hostkey/attest"
	ok $([ "$OUT" = 400 ]; echo $?) "$tag: a malformed body gets 400"
	run curl -s -o /dev/null -w '%{http_code}' "$URL/Attestation/v1/nosuch"
	ok $([ "$OUT" = 404 ]; echo $?) "$tag: an unknown path gets 404"

	run "$bin" hgs get-attestation-log --dir "$d"
	ok $([ $RC -eq 0 ] && grep -qE 'FabricHost1 +hostkey +Passed' <<<"$OUT" &&
		grep -qE 'FabricHost1 +hostkey +UnauthorizedHost +the nonce was already used' <<<"$OUT"; echo $?) \
		"$tag: get-attestation-log shows Passed and UnauthorizedHost"
	run "$bin" hgs get-attestation-log --dir "$d" --json --host FabricHost1
	count=$(grep -c '"Status":' <<<"$OUT")
	ok $([ $RC -eq 0 ] && [ "$count" -eq 6 ] && grep -q '"HealthCertificate": "[0-9A-F]\{64\}"' <<<"$OUT"; echo $?) \
		"$tag: get-attestation-log --json records every attempt ($count)"

	# ---- stop and restart ----
	# nonces are the store's: one issued now is good once after the restart
	n2=$(nonce)
	stop_bg SERVE TERM
	rc=$STOP_RC
	ok $([ $rc -eq 0 ] && [ ! -e "$d/hgs.pid" ]; echo $?) "$tag: SIGTERM stops serve with exit 0 and removes the pid file (rc $rc)"
	if ! start_hgs SERVE "$bin" "$d" MyHgsService; then
		ok 1 "$tag: serve restarts"; sed 's/^/# /' "$T/serve.err"
		stop_bg SERVE
		return
	fi
	URL=$SERVE_URL
	attest "$(attest_req FabricHost1 "$(nonce)" "$k/hk.key" "$k/hk.pub" "$k/tk.pub")"
	ok $(grep -q '"status":"Passed"' <<<"$REPLY_BODY"; echo $?) "$tag: after a restart the registered host still passes"
	attest "$body"
	ok $(grep -q '"status":"UnauthorizedHost"' <<<"$REPLY_BODY" && grep -q 'already used' <<<"$REPLY_BODY"; echo $?) \
		"$tag: after a restart the old request is still refused (its nonce stays used)"
	body=$(attest_req FabricHost1 "$n2" "$k/hk.key" "$k/hk.pub" "$k/tk.pub")
	attest "$body"
	ok $(grep -q '"status":"Passed"' <<<"$REPLY_BODY"; echo $?) \
		"$tag: a nonce issued before a restart, never used, is good after it"
	attest "$body"
	ok $(grep -q '"status":"UnauthorizedHost"' <<<"$REPLY_BODY" && grep -q 'already used' <<<"$REPLY_BODY"; echo $?) \
		"$tag: ... once"
	run "$bin" hgs get-attestation-log --dir "$d" --json --host FabricHost1
	ok $([ "$(grep -c '"Status":' <<<"$OUT")" -eq $((count + 4)) ]; echo $?) "$tag: the log survived the restart"
	run "$bin" hgs get-server --dir "$d" --json
	ok $(grep -q "\"ServingPid\": $SERVE_PID" <<<"$OUT"; echo $?) "$tag: get-server shows the serving pid"
	# a background job starts with SIGINT ignored: serve must still stop on it
	stop_bg SERVE INT
	rc=$STOP_RC
	ok $([ $rc -eq 0 ] && [ ! -e "$d/hgs.pid" ]; echo $?) "$tag: SIGINT stops serve with exit 0 (rc $rc)"
	grep -q "ERROR: AddressSanitizer\|runtime error" "$T/serve.err" && ok 1 "$tag: serve ran clean under the sanitizers"
}

each_binary suite
done_testing
