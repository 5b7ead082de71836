#!/usr/bin/env bash
# template.sh - template disks, shielding data and specialization data from
# the outside (docs/templates.md), the tenant's whole flow with real files:
# new-template-signer (key 0600), new-template-disk (generalized.json read
# back with debugfs; a failure leaves nothing), protect-template-disk (again
# in place, --populate-from's name, signer and version rule),
# save-volume-signature-catalog, whose .vsc `openssl cms -verify -CAfile
# signer.crt` accepts and refuses after a flipped byte (the interop point),
# with the image hash openssl's content names; new-volume-id-qualifier,
# new-shielding-data-file (openssl checks its PS256 signature with the KP
# owner's certificate), show-shielding-data-file (names and sizes, never
# contents), test-shielding-data-applicability (exit 0, exit 4 with the
# reason: version rule, other signer, a template changed after signing),
# new-specialization-data-file; truncated, foreign and garbled files exit 2
# with a clear message; and the answer file's secret string is in no file of
# the test directory but its source.
# Runs against $HGSLAB and, when set, $HGSLAB_ASAN (named but not built: a failure).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lab.sh"

require openssl jq xxd sha256sum base64 debugfs mke2fs

SECRET='AdminPassword=Plugh-Xyzzy-7f3a9'

# One full run against binary $1.
suite() {
	local bin=$1 tag w d o n size off bad
	tag=$(basename "$(dirname "$(dirname "$bin")")")
	w="$T/$tag"
	d="$w/ten"
	o="$w/hoster"
	mkdir -p "$w/src/etc"
	printf '@ComputerName@\n' >"$w/src/etc/hostname"
	printf 'welcome\n' >"$w/src/etc/motd"
	printf '%s\nComputerName=@ComputerName@\n' "$SECRET" >"$w/unattend.txt"
	printf 'pfx-bytes' >"$w/cert.pfx"

	# ---- guardians: the owner here, an HGS-like guardian imported ----
	run "$bin" tenant new-guardian --dir "$d" --name Owner
	ok $RC "$tag: new-guardian Owner"
	run "$bin" tenant new-guardian --dir "$o" --name MyHgsService
	run "$bin" tenant export-guardian --dir "$o" --name MyHgsService --out "$w/hgs.xml"
	run "$bin" tenant import-guardian --dir "$d" --file "$w/hgs.xml" --allow-untrusted-root
	ok $RC "$tag: import-guardian MyHgsService"

	# ---- signer ----
	run "$bin" tenant new-template-signer --dir "$d" --name Contoso --json
	ok $([ $RC -eq 0 ] && [ "$(jq -r .Thumbprint <<<"$OUT")" = "$(thumb "$d/signers/Contoso/signer.crt")" ] &&
		[ "$(stat -c %a "$d/signers/Contoso/signer.key")" = 600 ] &&
		[ "$(stat -c %a "$d/signers/Contoso/signer.crt")" = 644 ]; echo $?) \
		"$tag: new-template-signer: certificate 0644, key 0600, thumbprint printed"
	run "$bin" tenant new-template-signer --dir "$d" --name Other --key-type ec-p256
	ok $RC "$tag: new-template-signer ec-p256"
	run "$bin" tenant new-template-signer --dir "$d" --name Contoso
	ok $([ $RC -eq 2 ] && grep -q "already exists" <<<"$ERR"; echo $?) "$tag: a second Contoso exits 2"
	run "$bin" tenant new-template-signer --dir "$d" --name X --key-type dsa
	ok $([ $RC -eq 2 ] && grep -q "bad --key-type 'dsa'" <<<"$ERR"; echo $?) "$tag: a bad key type exits 2"

	# ---- template disk ----
	run "$bin" tenant new-template-disk --out "$w/ws.tdisk" --files "$w/src" \
		--file "srv/app.conf=host=@ComputerName@.@Domain@" --file "srv/plain=no placeholder" --json
	ok $([ $RC -eq 0 ] && [ "$(jq -r .GeneralizedFiles <<<"$OUT")" = 2 ] &&
		[ "$(stat -c %s "$w/ws.tdisk")" = 16777216 ] && [ "$(stat -c %a "$w/ws.tdisk")" = 644 ]; echo $?) \
		"$tag: new-template-disk: 16 MiB, 0644, two generalized files"
	debugfs -R 'cat /.hgslab/generalized.json' "$w/ws.tdisk" 2>/dev/null >"$w/gen.json"
	ok $([ "$(jq -r .format "$w/gen.json")" = hgslab-generalized ] &&
		[ "$(jq -c .files "$w/gen.json")" = '["etc/hostname","srv/app.conf"]' ]; echo $?) \
		"$tag: /.hgslab/generalized.json lists the files with placeholders"
	ok $([ "$(debugfs -R 'cat /etc/hostname' "$w/ws.tdisk" 2>/dev/null)" = '@ComputerName@' ]; echo $?) \
		"$tag: the template holds the files as given"
	run "$bin" tenant new-template-disk --out "$w/ws.tdisk" --file a=b
	ok $([ $RC -eq 2 ] && grep -q "exists: give --force" <<<"$ERR"; echo $?) "$tag: an existing template is kept without --force"
	mkdir -p "$w/big" && head -c 3000000 /dev/urandom >"$w/big/blob"
	run "$bin" tenant new-template-disk --out "$w/big.tdisk" --files "$w/big" --disk-size 1M
	ok $([ $RC -eq 1 ] && grep -q "files too big" <<<"$ERR" && [ ! -e "$w/big.tdisk" ] &&
		[ -z "$(ls -A "$w" | grep '^\.new-template')" ]; echo $?) "$tag: a failed new-template-disk leaves nothing"
	run "$bin" tenant new-template-disk --out "$w/x.tdisk" --file "../x=y"
	ok $([ $RC -eq 2 ] && grep -q "bad file name '../x'" <<<"$ERR"; echo $?) "$tag: a bad file name exits 2"
	run "$bin" tenant new-template-disk --out "$w/x.tdisk" --disk-size 12Q
	ok $([ $RC -eq 2 ] && grep -q "bad --disk-size" <<<"$ERR"; echo $?) "$tag: a bad size exits 2"

	# ---- protect ----
	run "$bin" tenant protect-template-disk --disk "$w/ws.tdisk" --name WindowsServer2016 --version 1.0 \
		--signer Contoso --dir "$d"
	ok $([ $RC -eq 2 ] && grep -q "bad version '1.0'" <<<"$ERR" && [ "$(stat -c %s "$w/ws.tdisk")" = 16777216 ]; echo $?) \
		"$tag: a bad version exits 2 and leaves the disk"
	run "$bin" tenant protect-template-disk --disk "$w/ws.tdisk" --name WindowsServer2016 --version 1.0.0.0 \
		--signer Contoso --dir "$d" --json
	size=$(stat -c %s "$w/ws.tdisk")
	ok $([ $RC -eq 0 ] && [ "$(jq -r .TemplateName <<<"$OUT")" = WindowsServer2016 ] &&
		[ "$(jq -r .DiskBytes <<<"$OUT")" = 16777216 ] && [ $((size % 512)) = 0 ] && [ "$size" -gt 16777216 ] &&
		[ "$(jq -r .SignerThumbprint <<<"$OUT")" = "$(thumb "$d/signers/Contoso/signer.crt")" ]; echo $?) \
		"$tag: protect-template-disk appends the signature catalog"
	ok $([ "$(tail -c 512 "$w/ws.tdisk" | head -c 15)" = HGSLAB-TDISK-V1 ] &&
		[ "$(tail -c 512 "$w/ws.tdisk" | dd bs=1 skip=16 count=8 2>/dev/null | xxd -p)" = 0000000100000000 ]; echo $?) \
		"$tag: the footer: magic and image_bytes little-endian"
	ok $([ "$(head -c 16777216 "$w/ws.tdisk" | sha256sum | cut -c1-64)" = "$(jq -r .DiskSha256 <<<"$OUT")" ]; echo $?) \
		"$tag: the signed hash is sha256sum of the image's bytes"
	run "$bin" tenant protect-template-disk --disk "$w/ws.tdisk" --name WindowsServer2016 --version 1.0.0.0 \
		--signer-cert "$d/signers/Contoso/signer.crt" --signer-key "$d/signers/Other/signer.key"
	ok $([ $RC -eq 2 ] && grep -q "does not match its certificate" <<<"$ERR"; echo $?) "$tag: a key that is not the certificate's exits 2"
	run "$bin" tenant protect-template-disk --disk "$w/ws.tdisk" --name WindowsServer2016 --version 1.0.0.0
	ok $([ $RC -eq 2 ] && grep -q "no signer given" <<<"$ERR"; echo $?) "$tag: no signer exits 2"

	# ---- the .vsc and openssl ----
	run "$bin" tenant save-volume-signature-catalog --disk "$w/ws.tdisk" --out "$w/ws.vsc"
	ok $RC "$tag: save-volume-signature-catalog"
	openssl cms -verify -inform DER -in "$w/ws.vsc" -CAfile "$d/signers/Contoso/signer.crt" -purpose any \
		-out "$w/content.json" 2>"$w/cms.err"
	ok $([ $? -eq 0 ] && [ "$(jq -r .format "$w/content.json")" = hgslab-vsc ] &&
		[ "$(jq -r .disk_sha256 "$w/content.json")" = "$(head -c 16777216 "$w/ws.tdisk" | sha256sum | cut -c1-64)" ] &&
		[ "$(jq -r .disk_version "$w/content.json")" = 1.0.0.0 ]; echo $?) \
		"$tag: openssl cms -verify -CAfile signer.crt accepts the .vsc; its content is the documented JSON"
	openssl cms -verify -inform DER -in "$w/ws.vsc" -CAfile "$d/signers/Other/signer.crt" -purpose any \
		-out /dev/null 2>/dev/null
	ok $([ $? -ne 0 ]; echo $?) "$tag: openssl refuses it with another signer's certificate"
	cp "$w/ws.vsc" "$w/flipped.vsc"
	off=$(grep -abo WindowsServer2016 "$w/flipped.vsc" | head -1 | cut -d: -f1)
	flip "$w/flipped.vsc" "$off"
	openssl cms -verify -inform DER -in "$w/flipped.vsc" -CAfile "$d/signers/Contoso/signer.crt" -purpose any \
		-out /dev/null 2>/dev/null
	ok $([ $? -ne 0 ]; echo $?) "$tag: openssl cms -verify fails after a flipped byte"
	run "$bin" tenant new-volume-id-qualifier --vsc "$w/flipped.vsc" --version-rule equals --out "$w/x.viq"
	ok $([ $RC -eq 4 ] && grep -q "does not verify" <<<"$ERR" && [ ! -e "$w/x.viq" ]; echo $?) \
		"$tag: so does hgslab (exit 4)"

	# ---- qualifiers, a second version ----
	run "$bin" tenant new-volume-id-qualifier --vsc "$w/ws.vsc" --version-rule greater-than-or-equals --out "$w/ge1.viq"
	ok $([ $RC -eq 0 ] && [ "$(jq -r .rule "$w/ge1.viq")" = greater-than-or-equals ] &&
		[ "$(jq -r .signer_thumbprint "$w/ge1.viq")" = "$(thumb "$d/signers/Contoso/signer.crt")" ]; echo $?) \
		"$tag: new-volume-id-qualifier from the .vsc"
	run "$bin" tenant new-volume-id-qualifier --disk "$w/ws.tdisk" --version-rule sideways --out "$w/x.viq"
	ok $([ $RC -eq 2 ] && grep -q "bad version rule 'sideways'" <<<"$ERR"; echo $?) "$tag: a bad rule exits 2"
	cp "$w/ws.tdisk" "$w/ws2.tdisk"
	run "$bin" tenant protect-template-disk --disk "$w/ws2.tdisk" --version 0.9.0.0 --populate-from "$w/ws.tdisk" --dir "$d"
	ok $([ $RC -eq 2 ] && grep -q "lower than 1.0.0.0" <<<"$ERR"; echo $?) "$tag: --populate-from refuses a lower version"
	run "$bin" tenant protect-template-disk --disk "$w/ws2.tdisk" --version 2.0.0.0 --populate-from "$w/ws.tdisk" --dir "$d" --json
	ok $([ $RC -eq 0 ] && [ "$(jq -r .TemplateName <<<"$OUT")" = WindowsServer2016 ] &&
		[ "$(jq -r .Version <<<"$OUT")" = 2.0.0.0 ] && [ "$(stat -c %s "$w/ws2.tdisk")" = "$size" ] &&
		[ "$(jq -r .SignerThumbprint <<<"$OUT")" = "$(thumb "$d/signers/Contoso/signer.crt")" ]; echo $?) \
		"$tag: --populate-from takes the name and the signer; protecting again replaces the trailer"
	run "$bin" tenant new-volume-id-qualifier --disk "$w/ws2.tdisk" --version-rule equals --out "$w/eq2.viq"
	ok $RC "$tag: new-volume-id-qualifier from the template"
	cp "$w/ws.tdisk" "$w/other.tdisk"
	run "$bin" tenant protect-template-disk --disk "$w/other.tdisk" --name WindowsServer2016 --version 1.0.0.0 \
		--signer Other --dir "$d"
	ok $RC "$tag: the same template signed by another signer"

	# ---- shielding data ----
	run "$bin" tenant new-shielding-data-file --dir "$d" --owner Owner --guardian MyHgsService \
		--volume-id-qualifier "$w/ge1.viq" --answer-file "$w/unattend.txt" --other-file "cert.pfx=$w/cert.pfx" \
		--policy shielded --out "$w/vm.pdk" --json
	ok $([ $RC -eq 0 ] && [ "$(jq -r '.Guardians | join(",")' <<<"$OUT")" = Owner,MyHgsService ] &&
		[ "$(jq -r .AnswerFile <<<"$OUT")" = unattend.txt ] && ! grep -q Plugh <<<"$OUT$ERR"; echo $?) \
		"$tag: new-shielding-data-file"
	jq -r .body "$w/vm.pdk" | base64 -d >"$w/pdk.body"
	jq -r .signature "$w/vm.pdk" | base64 -d >"$w/pdk.sig"
	jq -r .key_protector "$w/pdk.body" | base64 -d >"$w/pdk.kp"
	openssl x509 -in "$d/guardians/Owner/signing.crt" -pubkey -noout >"$w/owner.pub"
	ok $([ "$(jq -r .format "$w/vm.pdk")" = hgslab-pdk ] && [ "$(jq -r .id "$w/pdk.body")" = "$(kp_body "$w/pdk.kp" | jq -r .id)" ] &&
		[ "$(jq -r .secrets.alg "$w/pdk.body")" = A256GCM ] &&
		openssl dgst -sha256 -sigopt rsa_padding_mode:pss -verify "$w/owner.pub" -signature "$w/pdk.sig" "$w/pdk.body" >/dev/null; echo $?) \
		"$tag: the .pdk as documented; openssl verifies its PS256 signature with the owner's certificate"
	ok $([ "$(kp_open "$w/pdk.kp" 0 "$d/guardians/Owner/encryption.key")" = \
		"$(kp_open "$w/pdk.kp" 1 "$o/guardians/MyHgsService/encryption.key")" ]; echo $?) \
		"$tag: its key protector opens the same TK for the owner and the guardian"
	run "$bin" tenant show-shielding-data-file --pdk "$w/vm.pdk"
	ok $([ $RC -eq 0 ] && grep -qE '^SignatureValid +: True$' <<<"$OUT" && grep -q 'encrypted (give --dir' <<<"$OUT"; echo $?) \
		"$tag: show-shielding-data-file without the owner's keys"
	run "$bin" tenant show-shielding-data-file --pdk "$w/vm.pdk" --dir "$d" --json
	ok $([ $RC -eq 0 ] && [ "$(jq -r .AnswerFile.Name <<<"$OUT")" = unattend.txt ] &&
		[ "$(jq -r .AnswerFile.Bytes <<<"$OUT")" = "$(stat -c %s "$w/unattend.txt")" ] &&
		[ "$(jq -r '.OtherFiles[0].Name' <<<"$OUT")" = cert.pfx ] && ! grep -q Plugh <<<"$OUT$ERR"; echo $?) \
		"$tag: with --dir: the files' names and sizes, never their contents"
	run "$bin" tenant show-shielding-data-file --pdk "$w/vm.pdk" --dir "$o"
	ok $([ $RC -eq 1 ] && grep -q "is not a guardian with private keys" <<<"$ERR"; echo $?) \
		"$tag: another tenant cannot open the secrets"
	run "$bin" tenant new-shielding-data-file --dir "$d" --owner Owner --policy shielded --out "$w/x.pdk"
	ok $([ $RC -eq 2 ] && grep -q "at least one --volume-id-qualifier" <<<"$ERR"; echo $?) "$tag: no qualifier exits 2"
	run "$bin" tenant new-shielding-data-file --dir "$d" --owner Owner --volume-id-qualifier "$w/ge1.viq" \
		--policy trusted --out "$w/x.pdk"
	ok $([ $RC -eq 2 ] && grep -q "bad policy 'trusted'" <<<"$ERR"; echo $?) "$tag: a bad policy exits 2"
	run "$bin" tenant new-shielding-data-file --dir "$d" --owner Owner --volume-id-qualifier "$w/ge1.viq" \
		--other-file "cert.pfx" --policy shielded --out "$w/x.pdk"
	ok $([ $RC -eq 2 ] && grep -q "give NAME=FILE" <<<"$ERR"; echo $?) "$tag: --other-file without a file exits 2"
	run "$bin" tenant new-shielding-data-file --dir "$d" --owner MyHgsService --volume-id-qualifier "$w/ge1.viq" \
		--policy shielded --out "$w/x.pdk"
	ok $([ $RC -eq 1 ] && grep -q "no private keys" <<<"$ERR" && [ ! -e "$w/x.pdk" ]; echo $?) \
		"$tag: an imported guardian cannot own shielding data"

	# ---- applicability ----
	run "$bin" tenant test-shielding-data-applicability --pdk "$w/vm.pdk" --disk "$w/ws.tdisk"
	ok $([ $RC -eq 0 ] && grep -qE '^Applicable +: True$' <<<"$OUT"; echo $?) "$tag: applicable to the template (exit 0)"
	run "$bin" tenant test-shielding-data-applicability --pdk "$w/vm.pdk" --vsc "$w/ws.vsc" --json
	ok $([ $RC -eq 0 ] && [ "$(jq -r .Applicable <<<"$OUT")" = true ] &&
		[ "$(jq -r '.Qualifiers[0].Result' <<<"$OUT")" = Applicable ]; echo $?) "$tag: and to its .vsc"
	run "$bin" tenant test-shielding-data-applicability --pdk "$w/vm.pdk" --disk "$w/ws2.tdisk"
	ok $RC "$tag: a newer version fits greater-than-or-equals"
	run "$bin" tenant new-shielding-data-file --dir "$d" --owner Owner --guardian MyHgsService \
		--volume-id-qualifier "$w/eq2.viq" --policy encryption-supported --out "$w/v2.pdk"
	run "$bin" tenant test-shielding-data-applicability --pdk "$w/v2.pdk" --disk "$w/ws.tdisk"
	ok $([ $RC -eq 4 ] && grep -q "version 1.0.0.0 is not equal to 2.0.0.0" <<<"$ERR$OUT"; echo $?) \
		"$tag: the version rule not met: exit 4 with the reason"
	run "$bin" tenant test-shielding-data-applicability --pdk "$w/vm.pdk" --disk "$w/other.tdisk"
	ok $([ $RC -eq 4 ] && grep -q "the qualifier trusts only templates signed by" <<<"$ERR"; echo $?) \
		"$tag: another signer: exit 4 with the reason"
	cp "$w/ws.tdisk" "$w/altered.tdisk"
	flip "$w/altered.tdisk" 1048576
	run "$bin" tenant test-shielding-data-applicability --pdk "$w/vm.pdk" --disk "$w/altered.tdisk"
	ok $([ $RC -eq 4 ] && grep -q "changed after it was signed" <<<"$ERR"; echo $?) \
		"$tag: a byte changed in the image after signing: exit 4"
	run "$bin" tenant save-volume-signature-catalog --disk "$w/altered.tdisk" --out "$w/x.vsc"
	ok $([ $RC -eq 4 ] && [ ! -e "$w/x.vsc" ]; echo $?) "$tag: save-volume-signature-catalog refuses it too"

	# ---- bad input exits 2 ----
	head -c 700 "$w/vm.pdk" >"$w/cut.pdk"
	run "$bin" tenant show-shielding-data-file --pdk "$w/cut.pdk"
	ok $([ $RC -eq 2 ] && grep -q "bad shielding data file: bad JSON" <<<"$ERR"; echo $?) "$tag: a truncated .pdk exits 2"
	run "$bin" tenant test-shielding-data-applicability --pdk "$w/ge1.viq" --vsc "$w/ws.vsc"
	ok $([ $RC -eq 2 ] && grep -q "not an hgslab shielding data file" <<<"$ERR"; echo $?) "$tag: a foreign .pdk exits 2"
	sed 's/"alg": "PS256"/"alg": "none"/' "$w/vm.pdk" >"$w/garbled.pdk"
	run "$bin" tenant show-shielding-data-file --pdk "$w/garbled.pdk"
	ok $([ $RC -eq 2 ] && grep -q "field 'alg'" <<<"$ERR"; echo $?) "$tag: a garbled .pdk exits 2"
	head -c 300 "$w/ws.vsc" >"$w/cut.vsc"
	run "$bin" tenant new-volume-id-qualifier --vsc "$w/cut.vsc" --version-rule equals --out "$w/x.viq"
	ok $([ $RC -eq 2 ] && grep -q "bad volume signature catalog" <<<"$ERR"; echo $?) "$tag: a truncated .vsc exits 2"
	run "$bin" tenant test-shielding-data-applicability --pdk "$w/vm.pdk" --vsc "$w/vm.pdk"
	ok $([ $RC -eq 2 ] && grep -q "not a CMS signed message" <<<"$ERR"; echo $?) "$tag: a foreign .vsc exits 2"
	head -c $((size - 100)) "$w/ws.tdisk" >"$w/cut.tdisk"
	run "$bin" tenant save-volume-signature-catalog --disk "$w/cut.tdisk" --out "$w/x.vsc"
	ok $([ $RC -eq 2 ] && grep -q "not a protected template disk" <<<"$ERR"; echo $?) "$tag: a truncated template exits 2"
	run "$bin" tenant test-shielding-data-applicability --pdk "$w/vm.pdk" --disk "$w/src/etc/hostname"
	ok $([ $RC -eq 2 ] && grep -q "not a protected template disk" <<<"$ERR"; echo $?) "$tag: a foreign template exits 2"
	cp "$w/ws.tdisk" "$w/garbled.tdisk"
	flip "$w/garbled.tdisk" $((size - 512 + 20))
	run "$bin" tenant new-volume-id-qualifier --disk "$w/garbled.tdisk" --version-rule equals --out "$w/x.viq"
	ok $([ $RC -eq 2 ] && grep -q "bad template disk footer" <<<"$ERR"; echo $?) "$tag: a garbled footer exits 2"
	run "$bin" tenant protect-template-disk --disk "$w/garbled.tdisk" --name T --version 1.0.0.0 --signer Contoso --dir "$d"
	ok $([ $RC -eq 2 ] && grep -q "its trailer is damaged" <<<"$ERR"; echo $?) "$tag: protect refuses a damaged template"
	bad=""
	for n in 0 1 511 512 513 1000 $(($(stat -c %s "$w/vm.pdk") - 2)); do
		head -c "$n" "$w/vm.pdk" >"$w/cut$n.pdk"
		"$bin" tenant show-shielding-data-file --pdk "$w/cut$n.pdk" >/dev/null 2>&1
		[ $? -eq 2 ] || bad="$bad $n"
	done
	ok $([ -z "$bad" ]; echo $?) "$tag: .pdk cut at several lengths: exit 2 each${bad:+ (not at$bad)}"

	# ---- specialization data ----
	printf '# values\n@Domain@=contoso.com\n' >"$w/values.txt"
	run "$bin" tenant new-specialization-data-file --value @ComputerName@=Web01 --from "$w/values.txt" --out "$w/s.fsk"
	ok $([ $RC -eq 0 ] && [ "$(jq -r '.values["@ComputerName@"]' "$w/s.fsk")" = Web01 ] &&
		[ "$(jq -r '.values["@Domain@"]' "$w/s.fsk")" = contoso.com ] && [ "$(jq -r .format "$w/s.fsk")" = hgslab-fsk ]; echo $?) \
		"$tag: new-specialization-data-file"
	run "$bin" tenant new-specialization-data-file --value ComputerName=Web01 --out "$w/x.fsk"
	ok $([ $RC -eq 2 ] && grep -q "bad placeholder 'ComputerName'" <<<"$ERR"; echo $?) "$tag: a bad placeholder exits 2"
	run "$bin" tenant new-specialization-data-file --from "$w/vm.pdk" --out "$w/x.fsk"
	ok $([ $RC -eq 2 ] && grep -q "give @Key@=value" <<<"$ERR"; echo $?) "$tag: a file of other lines exits 2"

	# ---- the secret is nowhere but its source ----
	ok $(grep -rlF "Plugh-Xyzzy" "$w" | grep -vx "$w/unattend.txt" | grep -q .; [ $? -ne 0 ]; echo $?) \
		"$tag: the answer file's secret is in no file of the test directory but its source"
}

each_binary suite
done_testing
