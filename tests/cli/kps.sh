#!/usr/bin/env bash
# kps.sh - the Key Protection Service from the outside, built from the
# documents alone: `hgs init` + `hgs serve` as a real process on its own
# loopback address (readiness line through a fifo), the guardian metadata
# fetched with curl, a key protector made with openssl and jq as
# docs/key-protector.md specifies, a health certificate from a host-key
# attestation, a key release whose TK the "host" opens with openssl (label
# "HGSLAB-TK" + NUL) and compares with the owner's; refusals (no health
# certificate, cut-off, disabled certificate) and a malformed request with
# their log entries; the rotation verbs with --json.  The TK lives in shell
# variables and pipes only.  Runs against $HGSLAB and, when set, $HGSLAB_ASAN
# (named but not built: a failure).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lab.sh"

require openssl jq curl base64 sha256sum

# OAEP label of hosts/tpm_host.h, NUL included, in hex (KP_LABEL, docs/key-protector.md, is lab.sh's).
TK_LABEL=4847534C41422D544B00   # "HGSLAB-TK\0"
OAEP="-pkeyopt rsa_padding_mode:oaep -pkeyopt rsa_oaep_md:sha256 -pkeyopt rsa_mgf1_md:sha256"

# wrap_to CERT_PEM LABEL_HEX: stdin (binary) RSA-OAEP-SHA-256 encrypted to CERT, base64.
wrap_to() {
	# shellcheck disable=SC2086
	openssl pkeyutl -encrypt -certin -inkey "$1" $OAEP -pkeyopt "rsa_oaep_label:$2" | base64 -w0
}

# der64 PEM_FILE: the certificate's DER as base64 (one line).
der64() { openssl x509 -in "$1" -outform DER | base64 -w0; }

# make_kp TK_B64 HGS_SIG_PEM HGS_ENC_PEM: a KP for Owner + MyHgsService on stdout.
make_kp() {
	local body
	body=$(jq -cn --arg id "$(openssl rand -hex 16)" --arg created "$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
		--arg osc "$(der64 "$k/owner-sig.pem")" --arg oec "$(der64 "$k/owner-enc.pem")" \
		--arg ost "$(thumb "$k/owner-sig.pem")" --arg oet "$(thumb "$k/owner-enc.pem")" \
		--arg ow "$(printf %s "$1" | base64 -d | wrap_to "$k/owner-enc.pem" $KP_LABEL)" \
		--arg hec "$(der64 "$3")" --arg hst "$(thumb "$2")" --arg het "$(thumb "$3")" \
		--arg hw "$(printf %s "$1" | base64 -d | wrap_to "$3" $KP_LABEL)" \
		'{id: $id, created: $created,
		  owner: {name: "Owner", signing_cert: $osc},
		  guardians: [
		    {name: "Owner", signing_thumbprint: $ost, encryption_thumbprint: $oet,
		     encryption_cert: $oec, wrapped_tk: $ow},
		    {name: "MyHgsService", signing_thumbprint: $hst, encryption_thumbprint: $het,
		     encryption_cert: $hec, wrapped_tk: $hw}]}')
	jq -cn --arg body "$(printf %s "$body" | base64 -w0)" \
		--arg sig "$(printf %s "$body" | openssl dgst -sha256 -sign "$k/owner-sig.key" \
			-sigopt rsa_padding_mode:pss -sigopt rsa_pss_saltlen:32 | base64 -w0)" \
		'{format: "hgslab-kp", version: 1, alg: "PS256", body: $body, signature: $sig}'
}

# metadata_cert ELEMENT OUT_PEM: the certificate ELEMENT of the served metadata as PEM.
metadata_cert() {
	curl -s "$URL/KeyProtection/service/metadata/2014-07/metadata.xml" |
		sed -n "s:.*<$1>\\([^<]*\\)</$1>.*:\\1:p" | base64 -d |
		openssl x509 -inform DER -out "$2"
}

# release KP_FILE HEALTHCERT_B64: POST a release; body in $REPLY_BODY, status in $REPLY_CODE.
release() {
	local req="$T/req.$RANDOM.json"
	jq -cn --arg kp "$(base64 -w0 "$1")" --arg hc "$2" \
		'{key_protector: $kp} + (if $hc == "" then {} else {health_certificate: $hc} end)' >"$req"
	REPLY_BODY=$(curl -s -w '\n%{http_code}' -X POST --data-binary "@$req" "$URL/KeyProtection/v1/release")
	REPLY_CODE=$(tail -n1 <<<"$REPLY_BODY")
	REPLY_BODY=$(sed '$d' <<<"$REPLY_BODY")
}

# open_tk: the TK (base64) of $REPLY_BODY's wrapped_tk, opened with the host's transport key.
open_tk() {
	# shellcheck disable=SC2086
	jq -r .wrapped_tk <<<"$REPLY_BODY" | base64 -d |
		openssl pkeyutl -decrypt -inkey "$k/tk.key" $OAEP -pkeyopt "rsa_oaep_label:$TK_LABEL" |
		base64 -w0
}

# last_log BIN DIR FIELD: FIELD of the newest key protection log entry.
last_log() { "$1" hgs get-key-protection-log --dir "$2" --last 1 --json | jq -r ".[0].$3"; }

# Keys made once with the openssl CLI: the owner guardian, a host key, a transport key.
k="$T/keys"
mkdir -p "$k"
(
	cd "$k" || exit 1
	for n in owner-sig owner-enc tk imported; do
		openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out $n.key 2>/dev/null
	done
	openssl req -x509 -key owner-sig.key -subj "/CN=Owner Signing" -days 30 -out owner-sig.pem 2>/dev/null
	openssl req -x509 -key owner-enc.key -subj "/CN=Owner Encryption" -days 30 -out owner-enc.pem 2>/dev/null
	openssl req -x509 -key imported.key -subj "/CN=Imported KPS Encryption" -days 30 -out imported.pem 2>/dev/null
	openssl pkey -in tk.key -pubout -out tk.pub
	openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out hk.key 2>/dev/null
	openssl pkey -in hk.key -pubout -out hk.pub
)

# healthcert BIN DIR: a host-key attestation of FabricHost1; the health certificate (base64 DER).
healthcert() {
	local n d="$T/att.$RANDOM" body
	mkdir -p "$d"
	n=$(curl -s -X POST -d '{"host":"FabricHost1"}' "$URL/Attestation/v1/nonce" | jq -r .nonce)
	printf %s "$n" | base64 -d >"$d/msg.bin"
	openssl pkey -pubin -in "$k/tk.pub" -outform DER >>"$d/msg.bin"
	openssl dgst -sha256 -sign "$k/hk.key" -out "$d/sig.bin" "$d/msg.bin"
	body=$(jq -cn --arg n "$n" --rawfile hk "$k/hk.pub" --rawfile tk "$k/tk.pub" \
		--arg s "$(base64 -w0 "$d/sig.bin")" \
		'{host: "FabricHost1", nonce: $n, host_key: $hk, transport_key: $tk, signature: $s}')
	curl -s -X POST --data-binary "$body" "$URL/Attestation/v1/hostkey/attest" | jq -r .health_certificate
}

suite() {
	local bin=$1 tag d addr hc tk kp old_enc new_enc imp rc id
	tag=$(basename "$(dirname "$(dirname "$bin")")")
	d="$T/$tag-node"
	addr="127.0.0.$((($$ + ${#tag}) % 200 + 30))"

	run "$bin" hgs init --dir "$d" --name MyHgsService --domain relecloud.com --trust hostkey \
		--listen "$addr:0"
	ok $RC "$tag: init exits 0"
	run "$bin" hgs add-host-key --dir "$d" --name FabricHost1 --key "$k/hk.pub"
	ok $RC "$tag: host key registered"
	if ! start_hgs SERVE "$bin" "$d" MyHgsService; then
		ok 1 "$tag: serve starts"; sed 's/^/# /' "$T/serve.err"
		stop_bg SERVE
		return
	fi
	URL=$SERVE_URL

	# ---- guardian metadata ----
	run curl -s -D "$T/md.h" -o "$T/md.xml" "$URL/KeyProtection/service/metadata/2014-07/metadata.xml"
	ok $(grep -q '^HTTP/1.1 200' "$T/md.h" && grep -qi '^content-type: application/xml' "$T/md.h" &&
		grep -q '<GuardianMetadata xmlns="urn:hgslab:guardian-metadata:2014-07" Version="1">' "$T/md.xml" &&
		grep -q '<Name>MyHgsService</Name>' "$T/md.xml"; echo $?) "$tag: metadata served at the real path"
	metadata_cert SigningCertificate "$T/hgs-sig.pem"
	metadata_cert EncryptionCertificate "$T/hgs-enc.pem"
	ok $([ "$(thumb "$T/hgs-sig.pem")" = "$(thumb "$d/keys/kps-signing.crt")" ] &&
		[ "$(thumb "$T/hgs-enc.pem")" = "$(thumb "$d/keys/kps-encryption.crt")" ]; echo $?) \
		"$tag: metadata carries the primary signing and encryption certificates"
	run "$bin" hgs get-key-protection-certificate --dir "$d" --json
	ok $([ "$(jq 'length' <<<"$OUT")" = 2 ] &&
		[ "$(jq '[.[] | select(.IsPrimary and .IsEnabled)] | length' <<<"$OUT")" = 2 ] &&
		[ "$(jq -r '.[] | select(.CertificateType == "Encryption") | .Thumbprint' <<<"$OUT")" = "$(thumb "$T/hgs-enc.pem")" ]; echo $?) \
		"$tag: get-key-protection-certificate --json: init's pair is primary"
	old_enc=$(thumb "$T/hgs-enc.pem")

	# ---- a release ----
	tk=$(openssl rand -base64 32)
	kp="$T/$tag.kp"
	make_kp "$tk" "$T/hgs-sig.pem" "$T/hgs-enc.pem" >"$kp"
	id=$(jq -r .body "$kp" | base64 -d | jq -r .id)
	hc=$(healthcert)
	ok $([ ${#hc} -gt 100 ]; echo $?) "$tag: FabricHost1 passed host-key attestation"
	release "$kp" "$hc"
	ok $([ "$REPLY_CODE" = 200 ] && [ "$(open_tk)" = "$tk" ] &&
		[ "$(jq -r .key_protector <<<"$REPLY_BODY")" = "$id" ]; echo $?) \
		"$tag: released: the transport key opens the owner's TK"
	ok $([ "$(last_log "$bin" "$d" Result)" = Released ] && [ "$(last_log "$bin" "$d" Host)" = FabricHost1 ] &&
		[ "$(last_log "$bin" "$d" Owner)" = Owner ]; echo $?) "$tag: the release is logged"

	# ---- refusals and a malformed request ----
	release "$kp" ""
	ok $([ "$REPLY_CODE" = 403 ] && [ "$(jq -r .reason <<<"$REPLY_BODY")" = NoHealthCertificate ] &&
		! jq -e .wrapped_tk <<<"$REPLY_BODY" >/dev/null; echo $?) "$tag: no health certificate: 403 NoHealthCertificate"
	run "$bin" hgs get-key-protection-log --dir "$d" --json
	ok $([ "$(jq -r '.[-1].Result' <<<"$OUT")" = Refused ] && [ "$(jq -r '.[-1].Reason' <<<"$OUT")" = NoHealthCertificate ] &&
		[ "$(jq -r '.[-1].KeyProtector' <<<"$OUT")" = "$id" ] && [ "$(jq -r '.[-1].HttpStatus' <<<"$OUT")" = 403 ]; echo $?) \
		"$tag: get-key-protection-log --json shows the refusal"
	run "$bin" hgs get-key-protection-log --dir "$d"
	ok $(grep -qE '^Time +Host +KeyProtector +Owner +Result +Reason$' <<<"$OUT" &&
		grep -q 'Refused *NoHealthCertificate' <<<"$OUT"; echo $?) "$tag: get-key-protection-log prints a table"
	release "$kp" "bm90IGEgY2VydGlmaWNhdGU="
	ok $([ "$REPLY_CODE" = 400 ] && [ "$(jq -r .reason <<<"$REPLY_BODY")" = MalformedHealthCertificate ] &&
		[ "$(last_log "$bin" "$d" Result)" = BadRequest ]; echo $?) "$tag: a garbage certificate: 400, logged"
	run curl -s -o /dev/null -w '%{http_code}' -X POST --data-binary 'not json' "$URL/KeyProtection/v1/release"
	ok $([ "$OUT" = 400 ]; echo $?) "$tag: a body that is not JSON: 400"

	# ---- the cut-off ----
	run "$bin" hgs set-key-protection-attestation-signer-certificate-policy --dir "$d" \
		--deny-health-certificates-issued-before "@$(( $(date +%s) + 60 ))" --json
	ok $([ $RC -eq 0 ] && jq -e '.DenyHealthCertificatesIssuedBefore | test("Z$")' <<<"$OUT" >/dev/null; echo $?) \
		"$tag: set the cut-off (--json)"
	release "$kp" "$hc"
	ok $([ "$REPLY_CODE" = 403 ] && [ "$(jq -r .reason <<<"$REPLY_BODY")" = HealthCertificateIssuedBeforeCutoff ]; echo $?) \
		"$tag: a certificate issued before the cut-off is refused"
	run "$bin" hgs set-key-protection-policy --dir "$d" --clear --json
	ok $([ $RC -eq 0 ] && [ "$(jq -r .DenyHealthCertificatesIssuedBefore <<<"$OUT")" = null ]; echo $?) "$tag: clear the cut-off"
	run "$bin" hgs set-key-protection-policy --dir "$d" --deny-health-certificates-issued-before yesterday
	ok $([ $RC -eq 2 ] && grep -q "invalid time 'yesterday'" <<<"$ERR"; echo $?) "$tag: a bad time exits 2"

	# ---- rotation ----
	run "$bin" hgs add-key-protection-certificate --dir "$d" --certificate-type encryption --generate --primary --json
	new_enc=$(jq -r .Thumbprint <<<"$OUT")
	ok $([ $RC -eq 0 ] && [ "$(jq -r .IsPrimary <<<"$OUT")" = true ] && [ "$(jq -r .CertificateType <<<"$OUT")" = Encryption ] &&
		[ "$(stat -c %a "$d/keys/kps-encryption-${new_enc:0:16}.key")" = 600 ]; echo $?) \
		"$tag: add-key-protection-certificate --generate --primary (key 0600)"
	metadata_cert EncryptionCertificate "$T/hgs-enc2.pem"
	ok $([ "$(thumb "$T/hgs-enc2.pem")" = "$new_enc" ]; echo $?) "$tag: the metadata hands out the new primary"
	release "$kp" "$hc"
	ok $([ "$REPLY_CODE" = 200 ] && [ "$(open_tk)" = "$tk" ] &&
		[ "$(jq -r .encryption_certificate <<<"$REPLY_BODY")" = "$old_enc" ]; echo $?) \
		"$tag: a KP wrapped to the old enabled certificate still releases"
	run "$bin" hgs set-key-protection-certificate --dir "$d" --thumbprint "${old_enc:0:8}" --disable --json
	ok $([ $RC -eq 0 ] && [ "$(jq -r .IsEnabled <<<"$OUT")" = false ]; echo $?) "$tag: disable the old certificate by prefix"
	release "$kp" "$hc"
	ok $([ "$REPLY_CODE" = 403 ] && [ "$(jq -r .reason <<<"$REPLY_BODY")" = EncryptionCertificateDisabled ] &&
		[ "$(last_log "$bin" "$d" Reason)" = EncryptionCertificateDisabled ]; echo $?) \
		"$tag: a KP wrapped to a disabled certificate is refused"
	run "$bin" hgs set-key-protection-certificate --dir "$d" --thumbprint "$old_enc" --primary
	ok $([ $RC -eq 1 ] && grep -q "is disabled" <<<"$ERR"; echo $?) "$tag: a disabled certificate cannot be primary"
	run "$bin" hgs set-key-protection-certificate --dir "$d" --thumbprint "$new_enc" --disable
	ok $([ $RC -eq 1 ] && grep -q "primary" <<<"$ERR"; echo $?) "$tag: the primary cannot be disabled"
	run "$bin" hgs remove-key-protection-certificate --dir "$d" --thumbprint "$new_enc"
	ok $([ $RC -eq 1 ] && grep -q "cannot remove" <<<"$ERR"; echo $?) "$tag: the primary cannot be removed"
	run "$bin" hgs set-key-protection-certificate --dir "$d" --thumbprint "$old_enc" --enable --json
	ok $([ $RC -eq 0 ] && [ "$(jq -r .IsEnabled <<<"$OUT")" = true ]; echo $?) "$tag: enable it again"
	release "$kp" "$hc"
	ok $([ "$REPLY_CODE" = 200 ]; echo $?) "$tag: released again"
	run "$bin" hgs add-key-protection-certificate --dir "$d" -t encryption --key "$k/imported.key" \
		--certificate "$k/imported.pem" --json
	imp=$(jq -r .Thumbprint <<<"$OUT")
	ok $([ $RC -eq 0 ] && [ "$imp" = "$(thumb "$k/imported.pem")" ] && [ "$(jq -r .IsPrimary <<<"$OUT")" = false ] &&
		[ "$(stat -c %a "$d/keys/kps-encryption-${imp:0:16}.key")" = 600 ]; echo $?) \
		"$tag: add an existing key pair (not primary, key 0600)"
	run "$bin" hgs add-key-protection-certificate --dir "$d" -t encryption --generate --key "$k/imported.key"
	ok $([ $RC -eq 2 ]; echo $?) "$tag: --generate with --key exits 2"
	run "$bin" hgs remove-key-protection-certificate --dir "$d" --thumbprint "$imp" --json
	ok $([ $RC -eq 0 ] && [ "$(jq -r .Removed <<<"$OUT")" = true ] &&
		[ ! -e "$d/keys/kps-encryption-${imp:0:16}.key" ]; echo $?) "$tag: remove it (its key file goes too)"
	run "$bin" hgs get-key-protection-certificate --dir "$d" --certificate-type encryption --json
	ok $([ "$(jq 'length' <<<"$OUT")" = 2 ] &&
		[ "$(jq -r '.[] | select(.IsPrimary) | .Thumbprint' <<<"$OUT")" = "$new_enc" ]; echo $?) \
		"$tag: two encryption certificates remain, the new one primary"

	stop_bg SERVE
	grep -q "ERROR: AddressSanitizer\|runtime error" "$T/serve.err" && ok 1 "$tag: serve ran clean under the sanitizers"
}

each_binary suite
done_testing
