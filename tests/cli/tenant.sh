#!/usr/bin/env bash
# tenant.sh - the tenant's guardians and key protectors from the outside:
# new-guardian (private keys 0600), get-guardian (table and --json),
# import-guardian from a real `hgs serve` (--url with --resolve, readiness
# line through a fifo) and from a --file, refusing a self-signed root without
# --allow-untrusted-root and malformed metadata with a clear message;
# export-guardian holds no private key; new-key-protector, whose TK and
# fingerprint are checked independently with openssl and sha256sum from
# docs/key-protector.md (the signature, the OAEP label "HGSLAB-KP" + NUL, the
# fingerprint's domain string); show-key-protector with and without the
# owner's keys, and refusing a KP whose body changed or that another key
# signed; grant and revoke (a granted guardian opens the same TK, a revoked
# one has no entry, the owner cannot be revoked, only the owner may change
# it); remove-guardian; and the TK in no file under the test directory.
# The TK lives in shell variables and pipes only.
# Runs against $HGSLAB and, when set, $HGSLAB_ASAN (named but not built: a failure).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lab.sh"

require openssl jq curl xxd od sha256sum base64

# One full run against binary $1.
suite() {
	local bin=$1 tag d h node addr port kp fp tk tk2 body
	tag=$(basename "$(dirname "$(dirname "$bin")")")
	DIR_ROOT="$T/$tag"
	d="$T/$tag/tenant"
	h="$T/$tag/elsewhere"
	node="$T/$tag/node"
	kp="$T/$tag/vm1.kp"
	mkdir -p "$DIR_ROOT"
	addr="127.0.0.$((($$ + ${#tag}) % 200 + 30))"

	# ---- guardians ----
	run "$bin" tenant new-guardian --dir "$d" --name Owner
	ok $([ $RC -eq 0 ] && grep -q "^created guardian 'Owner'" <<<"$OUT" &&
		grep -qE '^HasPrivateSigningKey +: True$' <<<"$OUT"; echo $?) "$tag: new-guardian Owner"
	ok $([ "$(stat -c %a "$d/guardians/Owner/signing.key")" = 600 ] &&
		[ "$(stat -c %a "$d/guardians/Owner/encryption.key")" = 600 ] &&
		[ "$(stat -c %a "$d/guardians/Owner/encryption.crt")" = 644 ]; echo $?) \
		"$tag: private keys 0600, certificates 0644"
	ok $(openssl x509 -in "$d/guardians/Owner/signing.crt" -noout -subject |
		grep -q 'CN = Shielded VM Signing Certificate (Owner)' &&
		openssl pkey -in "$d/guardians/Owner/encryption.key" -noout -text | grep -q 'Private-Key: (2048 bit'; echo $?) \
		"$tag: RSA-2048 keys, New-HgsGuardian certificate names"
	run "$bin" tenant new-guardian --dir "$d" --name Owner
	ok $([ $RC -eq 1 ] && grep -q "already exists" <<<"$ERR"; echo $?) "$tag: a second Owner is refused"
	run "$bin" tenant new-guardian --dir "$d" --name "x/../y"
	ok $([ $RC -eq 2 ] && grep -q "guardian name 'x/../y' contains '/'" <<<"$ERR" && [ ! -e "$d/y" ]; echo $?) \
		"$tag: a bad name exits 2"
	run "$bin" tenant new-guardian --dir "$d" --name Other
	ok $RC "$tag: new-guardian Other"

	# ---- import from a running HGS ----
	run "$bin" hgs init --dir "$node" --name MyHgsService --domain relecloud.com --trust hostkey \
		--listen "$addr:0"
	ok $RC "$tag: hgs init"
	if start_hgs SERVE "$bin" "$node" MyHgsService; then ok 0 "$tag: hgs serve is ready"; else ok 1 "$tag: hgs serve is ready"; cat "$T/serve.err"; fi
	port=$SERVE_PORT
	run "$bin" tenant import-guardian --dir "$d" --url "http://hgs.relecloud.com:$port" \
		--resolve "hgs.relecloud.com:$port:$addr"
	ok $([ $RC -eq 4 ] && grep -q "self-signed, an untrusted root" <<<"$ERR" &&
		grep -q -- "--allow-untrusted-root" <<<"$ERR" && [ ! -e "$d/guardians/MyHgsService" ]; echo $?) \
		"$tag: import-guardian refuses an untrusted root (exit 4), imports nothing"
	run "$bin" tenant import-guardian --dir "$d" --url "http://hgs.relecloud.com:$port" \
		--resolve "hgs.relecloud.com:$port:$addr" --allow-untrusted-root --json
	ok $([ $RC -eq 0 ] && [ "$(jq -r .Kind <<<"$OUT")" = Imported ] &&
		[ "$(jq -r .HasPrivateSigningKey <<<"$OUT")" = false ] &&
		[ "$(jq -r .EncryptionThumbprint <<<"$OUT")" = "$(thumb "$node/keys/kps-encryption.crt")" ] &&
		[ "$(jq -r .SigningThumbprint <<<"$OUT")" = "$(thumb "$node/keys/kps-signing.crt")" ]; echo $?) \
		"$tag: import-guardian --url: the HGS's KPS certificates, no private key"
	ok $([ ! -e "$d/guardians/MyHgsService/signing.key" ] && [ ! -e "$d/guardians/MyHgsService/encryption.key" ]; echo $?) \
		"$tag: an imported guardian has no key files"
	stop_bg SERVE
	run "$bin" tenant import-guardian --dir "$d" --url "http://$addr:$port"
	ok $([ $RC -eq 1 ] && grep -q "cannot reach" <<<"$ERR"; echo $?) "$tag: an unreachable HGS is a clear error"

	# ---- get / export / import from a file ----
	run "$bin" tenant get-guardian --dir "$d"
	ok $([ $RC -eq 0 ] && grep -qE '^MyHgsService +Imported +False ' <<<"$OUT" &&
		grep -qE '^Owner +Owned +True ' <<<"$OUT" && grep -qE '^Name +Kind ' <<<"$OUT"; echo $?) \
		"$tag: get-guardian lists owned and imported guardians"
	run "$bin" tenant get-guardian --dir "$d" --name Owner --json
	ok $([ $RC -eq 0 ] && [ "$(jq -r '.[0].SigningThumbprint' <<<"$OUT")" = "$(thumb "$d/guardians/Owner/signing.crt")" ]; echo $?) \
		"$tag: get-guardian --json thumbprints"
	run "$bin" tenant export-guardian --dir "$d" --name Owner --out "$h.xml"
	ok $([ $RC -eq 0 ] && grep -q '<GuardianMetadata' "$h.xml" && grep -q 'urn:hgslab:guardian-metadata:2014-07' "$h.xml" &&
		! grep -q PRIVATE "$h.xml"; echo $?) "$tag: export-guardian writes metadata without private keys"
	run "$bin" tenant import-guardian --dir "$h" --file "$h.xml" --name TenantOwner
	ok $([ $RC -eq 4 ] && grep -q "untrusted root" <<<"$ERR"; echo $?) "$tag: import --file refuses the self-signed root"
	run "$bin" tenant import-guardian --dir "$h" --file "$h.xml" --name TenantOwner --allow-untrusted-root
	ok $RC "$tag: import --file with --allow-untrusted-root"
	run "$bin" tenant import-guardian --dir "$h" --file "$h.xml" --name X --trusted-root "$d/guardians/Owner/signing.crt"
	ok $([ $RC -eq 4 ] && grep -q "does not chain to the trusted root" <<<"$ERR"; echo $?) "$tag: --trusted-root: the other certificate does not chain"
	printf 'this is not XML' >"$h.bad"
	run "$bin" tenant import-guardian --dir "$h" --file "$h.bad" --allow-untrusted-root
	ok $([ $RC -eq 2 ] && grep -q "bad guardian metadata: malformed XML at line 1" <<<"$ERR"; echo $?) \
		"$tag: malformed metadata exits 2 with the line"
	sed 's/Version="1"/Version="7"/' "$h.xml" >"$h.bad"
	run "$bin" tenant import-guardian --dir "$h" --file "$h.bad" --allow-untrusted-root --name X
	ok $([ $RC -eq 2 ] && grep -q "guardian metadata version '7' is not supported" <<<"$ERR"; echo $?) \
		"$tag: another metadata version is named"
	{ echo '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>'; tail -n +2 "$h.xml"; } >"$h.bad"
	run "$bin" tenant import-guardian --dir "$h" --file "$h.bad" --allow-untrusted-root --name X
	ok $([ $RC -eq 2 ] && grep -q "<!DOCTYPE>) is not allowed" <<<"$ERR"; echo $?) "$tag: a DOCTYPE (entities) is refused"
	run "$bin" tenant import-guardian --dir "$h" --allow-untrusted-root
	ok $([ $RC -eq 2 ] && grep -q "exactly one of --url URL and --file FILE" <<<"$ERR"; echo $?) "$tag: --url or --file is required"

	# ---- new-key-protector ----
	run "$bin" tenant new-key-protector --dir "$d" --owner Owner --guardian MyHgsService --out "$kp"
	fp=$(sed -n 's/^TK fingerprint: \([0-9A-F]\{64\}\)$/\1/p' <<<"$OUT")
	ok $([ $RC -eq 0 ] && [ -n "$fp" ] && grep -q "^guardians: Owner, MyHgsService$" <<<"$OUT" &&
		[ "$(stat -c %a "$kp")" = 644 ]; echo $?) "$tag: new-key-protector prints the id and the TK fingerprint"
	body=$(kp_body "$kp")
	ok $([ "$(jq -r .format "$kp")" = hgslab-kp ] && [ "$(jq -r .version "$kp")" = 1 ] && [ "$(jq -r .alg "$kp")" = PS256 ] &&
		[ "$(jq -r '.guardians | length' <<<"$body")" = 2 ] && [ "$(jq -r '.guardians[0].name' <<<"$body")" = Owner ] &&
		[ "$(jq -r '.guardians[1].encryption_thumbprint' <<<"$body")" = "$(thumb "$node/keys/kps-encryption.crt")" ]; echo $?) \
		"$tag: the KP has the documented shape, owner first"
	jq -r .body "$kp" | base64 -d >"$T/$tag.body"
	jq -r .signature "$kp" | base64 -d >"$T/$tag.sig"
	openssl x509 -in "$d/guardians/Owner/signing.crt" -pubkey -noout >"$T/$tag.pub"
	ok $(openssl dgst -sha256 -sigopt rsa_padding_mode:pss -verify "$T/$tag.pub" -signature "$T/$tag.sig" "$T/$tag.body" >/dev/null; echo $?) \
		"$tag: openssl verifies the PS256 signature over the body bytes"
	tk=$(kp_open "$kp" 0 "$d/guardians/Owner/encryption.key")
	tk2=$(kp_open "$kp" 1 "$node/keys/kps-encryption.key")
	ok $([ ${#tk} -eq 64 ] && [ "$tk" = "$tk2" ] && [ "$(fp_of "$tk")" = "$fp" ]; echo $?) \
		"$tag: openssl opens the same TK for the owner and the HGS; its fingerprint is the one printed"
	run "$bin" tenant new-key-protector --dir "$d" --owner Owner --guardian MyHgsService --out "$kp"
	ok $([ $RC -eq 2 ] && grep -q -- "give --force" <<<"$ERR"; echo $?) "$tag: an existing KP file is not replaced without --force"
	run "$bin" tenant new-key-protector --dir "$d" --owner MyHgsService --out "$T/$tag/x.kp"
	ok $([ $RC -eq 1 ] && grep -q "no private keys" <<<"$ERR" && [ ! -e "$T/$tag/x.kp" ]; echo $?) \
		"$tag: an imported guardian cannot own a KP"
	run "$bin" tenant new-key-protector --dir "$d" --owner Owner --guardian Nobody --out "$T/$tag/x.kp"
	ok $([ $RC -eq 1 ] && grep -q "no guardian 'Nobody'" <<<"$ERR" && [ ! -e "$T/$tag/x.kp" ]; echo $?) \
		"$tag: an unknown guardian is refused"
	chmod 644 "$d/guardians/Owner/encryption.key"
	run "$bin" tenant new-key-protector --dir "$d" --owner Owner --out "$T/$tag/x.kp"
	ok $([ $RC -eq 1 ] && grep -q "chmod 600" <<<"$ERR"; echo $?) "$tag: a private key others may read is refused"
	chmod 600 "$d/guardians/Owner/encryption.key"

	# ---- show-key-protector ----
	run "$bin" tenant show-key-protector --dir "$d" "$kp"
	ok $([ $RC -eq 0 ] && grep -qE "^SignatureValid +: True$" <<<"$OUT" &&
		grep -qE "^TransportKeyFingerprint +: $fp$" <<<"$OUT" && grep -qE "^MyHgsService +Guardian +MyHgsService " <<<"$OUT"; echo $?) \
		"$tag: show-key-protector: valid, the owner sees the fingerprint"
	run "$bin" tenant show-key-protector --dir "$h" "$kp" --json
	ok $([ $RC -eq 0 ] && [ "$(jq -r .SignatureValid <<<"$OUT")" = true ] &&
		[ "$(jq -r .TransportKeyFingerprint <<<"$OUT")" = null ] && [ "$(jq -r .Version <<<"$OUT")" = 1 ] &&
		[ "$(jq -r '.Guardians[1].EncryptionThumbprint' <<<"$OUT")" = "$(thumb "$node/keys/kps-encryption.crt")" ]; echo $?) \
		"$tag: show --json without the owner's keys: no fingerprint"
	jq -c '.created = "2020-01-01T00:00:00Z"' "$T/$tag.body" | tr -d '\n' | base64 -w0 >"$T/$tag.b64"
	jq --rawfile b "$T/$tag.b64" '.body = $b' "$kp" >"$T/$tag/changed.kp"
	run "$bin" tenant show-key-protector --dir "$d" "$T/$tag/changed.kp"
	ok $([ $RC -eq 4 ] && grep -qE "^SignatureValid +: False$" <<<"$OUT" && ! grep -q "$fp" <<<"$OUT" &&
		grep -q "signature does not verify" <<<"$ERR"; echo $?) "$tag: a changed body fails the signature (exit 4)"
	openssl dgst -sha256 -sigopt rsa_padding_mode:pss -sign "$d/guardians/Other/signing.key" -out "$T/$tag.sig2" "$T/$tag.body"
	jq --arg s "$(base64 -w0 "$T/$tag.sig2")" '.signature = $s' "$kp" >"$T/$tag/resigned.kp"
	run "$bin" tenant show-key-protector --dir "$d" "$T/$tag/resigned.kp"
	ok $([ $RC -eq 4 ] && grep -q "signature does not verify" <<<"$ERR"; echo $?) "$tag: a KP re-signed by another key is refused"
	run "$bin" tenant grant-key-protector-access --dir "$d" --key-protector "$T/$tag/resigned.kp" --guardian Other
	ok $([ $RC -eq 4 ] && grep -q "signature does not verify" <<<"$ERR"; echo $?) "$tag: grant refuses it too"
	head -c 300 "$kp" >"$T/$tag/cut.kp"
	run "$bin" tenant show-key-protector --dir "$d" "$T/$tag/cut.kp"
	ok $([ $RC -eq 2 ] && grep -q "bad key protector: bad JSON" <<<"$ERR"; echo $?) "$tag: a truncated KP exits 2"
	jq '.version = 2' "$kp" >"$T/$tag/v2.kp"
	run "$bin" tenant show-key-protector --dir "$d" "$T/$tag/v2.kp"
	ok $([ $RC -eq 2 ] && grep -q "key protector version 2 is not supported; this hgslab reads version 1" <<<"$ERR"; echo $?) \
		"$tag: another KP version is named"

	# ---- grant / revoke ----
	run "$bin" tenant grant-key-protector-access --dir "$d" --key-protector "$kp" --guardian Other
	ok $([ $RC -eq 0 ] && grep -q "^granted guardian 'Other'" <<<"$OUT" &&
		[ "$(kp_open "$kp" 2 "$d/guardians/Other/encryption.key")" = "$tk" ] &&
		[ "$(kp_open "$kp" 1 "$node/keys/kps-encryption.key")" = "$tk" ]; echo $?) \
		"$tag: grant: the new guardian opens the same TK"
	run "$bin" tenant show-key-protector --dir "$d" "$kp"
	ok $([ $RC -eq 0 ] && grep -qE "^Other +Guardian +Other " <<<"$OUT" && grep -qE "^TransportKeyFingerprint +: $fp$" <<<"$OUT"; echo $?) \
		"$tag: show lists the granted guardian, same fingerprint"
	run "$bin" tenant grant-key-protector-access --dir "$d" --key-protector "$kp" --guardian Other
	ok $([ $RC -eq 1 ] && grep -q "already has access" <<<"$ERR"; echo $?) "$tag: granting twice is refused"
	run "$bin" tenant grant-key-protector-access --dir "$h" --key-protector "$kp" --guardian TenantOwner
	ok $([ $RC -eq 1 ] && grep -q "only the owner can change it" <<<"$ERR"; echo $?) "$tag: only the owner may grant"
	run "$bin" tenant revoke-key-protector-access --dir "$d" --key-protector "$kp" --guardian Owner
	ok $([ $RC -eq 1 ] && grep -q "the owner cannot be revoked" <<<"$ERR"; echo $?) "$tag: the owner cannot be revoked"
	run "$bin" tenant revoke-key-protector-access --dir "$d" --key-protector "$kp" --guardian Other
	ok $([ $RC -eq 0 ] && [ "$(kp_body "$kp" | jq -r '[.guardians[].name] | join(",")')" = "Owner,MyHgsService" ] &&
		[ "$(kp_open "$kp" 1 "$node/keys/kps-encryption.key")" = "$tk" ]; echo $?) \
		"$tag: revoke removes the guardian's entry; the others still open the TK"
	run "$bin" tenant revoke-key-protector-access --dir "$d" --key-protector "$kp" --guardian Other
	ok $([ $RC -eq 1 ] && grep -q "has no access" <<<"$ERR"; echo $?) "$tag: revoking again: no access"
	ok $(ls -a "$T/$tag" "$d" | grep -q '\.tmp\.'; [ $? -ne 0 ]; echo $?) "$tag: no temporary files left"

	# ---- remove ----
	run "$bin" tenant remove-guardian --dir "$d" --name Other
	ok $([ $RC -eq 0 ] && [ ! -e "$d/guardians/Other" ]; echo $?) "$tag: remove-guardian deletes it with its keys"
	run "$bin" tenant get-guardian --dir "$d" --name Other
	ok $([ $RC -eq 1 ] && grep -q "no guardian 'Other'" <<<"$ERR"; echo $?) "$tag: a removed guardian is gone"

	# ---- the TK in no file ----
	ok $(scan_files "$tk" "$DIR_ROOT"; echo $?) "$tag: the TK is in no file (raw, hex or base64)"
	grep -q "ERROR: AddressSanitizer\|runtime error" "$T/serve.err" && ok 1 "$tag: serve ran clean under the sanitizers"
}

each_binary suite
done_testing
