#!/usr/bin/env bash
# cmdlets.sh - the README's cmdlet tables against the command table, and the
# verbs that exist for a cmdlet of their own: every hgslab verb the tables
# (headed "| cmdlet | hgslab |") name exists (`hgslab AREA VERB --help`
# exits 0), every row names a verb or says "none" and why, and every cmdlet
# of issue 13's list has a row.  Then hgs clear-server (Clear-HgsServer),
# hgs get-attestation-signer-certificate and host get-pcr-values, on the
# release binary and on the ASan one when tests/run.sh names it.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lab.sh"
require jq openssl tpm2_eventlog script

README=$ROOT/README.md

# ---- the tables ----

# rows: "CMDLET<TAB>HGSLAB" for every data row of the README's cmdlet tables.
rows() {
	awk -F'|' '
		/^\| cmdlet \| hgslab \|$/ { in_table = 1; next }
		in_table && /^\|---/ { next }
		in_table && /^\|/ { c = $2; h = $3; gsub(/^ +| +$/, "", c); gsub(/^ +| +$/, "", h); print c "\t" h; next }
		{ in_table = 0 }' "$README"
}

# The areas of `hgslab --help`.
AREAS=$("$HGSLAB" --help | awk '/^Areas:/ { a = 1; next } a && /^$/ { exit } a { print $1 }')
ok $([ -n "$AREAS" ] && grep -qx hgs <<<"$AREAS"; echo $?) "hgslab --help lists the areas"

nrows=$(rows | wc -l)
ok $([ "$nrows" -ge 70 ]; echo $?) "the README's cmdlet tables have $nrows rows"

# Every backquoted command of a row whose first word is an area must exist.
bad_verbs=()
no_reason=()
nverbs=0
while IFS=$'\t' read -r cmdlet cell; do
	found=0
	while IFS= read -r cmd; do
		cmd=${cmd#\`}; cmd=${cmd%\`}
		read -r area verb _ <<<"$cmd"
		grep -qx -- "$area" <<<"$AREAS" || continue
		found=1
		if "$HGSLAB" "$area" --help 2>/dev/null | grep -q '^Verbs:'; then
			case $verb in [a-z]*) ;; *) bad_verbs+=("$cmdlet: \`$cmd\` names no verb"); continue ;; esac
			"$HGSLAB" "$area" "$verb" --help >/dev/null 2>&1 || bad_verbs+=("$cmdlet: $area $verb")
		else
			"$HGSLAB" "$area" --help >/dev/null 2>&1 || bad_verbs+=("$cmdlet: $area")
		fi
		nverbs=$((nverbs + 1))
	done < <(grep -o '`[^`]*`' <<<"$cell")
	if [ $found -eq 0 ] && ! grep -qE '^none( needed)?: .{10,}' <<<"$cell"; then
		no_reason+=("$cmdlet")
	fi
done < <(rows)
ok $([ ${#bad_verbs[@]} -eq 0 ] && [ $nverbs -ge 80 ]; echo $?) \
	"every hgslab verb the cmdlet tables name exists ($nverbs named)"
for b in "${bad_verbs[@]}"; do echo "#   missing: $b"; done
ok ${#no_reason[@]} "every cmdlet row names a verb or says 'none: why'"
for b in "${no_reason[@]}"; do echo "#   no verb, no reason: $b"; done

# The cmdlets issue 13 lists, each in a row of its own or shared with its family.
required=(Initialize-HgsServer Get-HgsServer Set-HgsServer Clear-HgsServer
	Enable-HgsAttestationPolicy Disable-HgsAttestationPolicy Get-HgsAttestationPolicy
	Get-HgsAttestationSignerCertificate
	Add-HgsKeyProtectionCertificate Get-HgsKeyProtectionCertificate
	Set-HgsKeyProtectionCertificate Remove-HgsKeyProtectionCertificate
	Get-HgsClientConfiguration Set-HgsClientConfiguration Test-HgsClientConfiguration
	Get-PlatformIdentifier Get-HgsAttestationBaselinePolicy ConvertFrom-CIPolicy
	New-HgsGuardian Get-HgsGuardian Import-HgsGuardian Export-HgsGuardian Remove-HgsGuardian
	New-HgsKeyProtector Grant-HgsKeyProtectorAccess Revoke-HgsKeyProtectorAccess
	Get-HgsTrace Export-HgsServerState Import-HgsServerState
	Protect-TemplateDisk Save-VolumeSignatureCatalog New-VolumeIDQualifier New-ShieldingDataFile
	New-ShieldedVMSpecializationDataFile Test-ShieldingDataApplicability Initialize-ShieldedVM
	Get-ShieldedVMProvisioningStatus)
for verb in Add Get Remove; do
	for noun in TpmHost TpmPolicy CIPolicy HostGroup HostKey; do
		required+=("$verb-HgsAttestation$noun")
	done
done
cmdlets=$(rows | cut -f1)
missing=()
for c in "${required[@]}"; do
	grep -qE "(^|[ ,(])$c(\$|[ ,)])" <<<"$cmdlets" || missing+=("$c")
done
ok ${#missing[@]} "every cmdlet of the issue's list has a row (${#required[@]} checked)"
for c in "${missing[@]}"; do echo "#   no row: $c"; done

# ---- the verbs ----

# tag_of BIN: "release" for $HGSLAB, "asan" for the ASan binary (their folders differ by it).
tag_of() { if [ "$1" = "$HGSLAB" ]; then echo release; else echo asan; fi; }

# hgs clear-server: asks, refuses without a terminal or while served, removes whole, no link followed.
clear_server() {
	local bin=$1 tag d pid
	tag=$(tag_of "$bin")
	d=$T/$tag-clear/hgs
	mkdir -p "$T/$tag-clear/outside/dir"
	echo keep >"$T/$tag-clear/outside/file"
	echo keep >"$T/$tag-clear/outside/dir/inner"
	run "$bin" hgs init --dir "$d" --name MyHgsService --domain relecloud.com --listen 127.0.0.2:0
	ok $RC "$tag: hgs init for clear-server"

	run "$bin" hgs clear-server --dir "$d"
	ok $([ $RC -eq 2 ] && grep -q "not a terminal.*--force" <<<"$ERR" && [ -f "$d/hgs.db" ]; echo $?) \
		"$tag: clear-server without --force on a non-terminal stdin exits 2, node kept"

	echo WrongName | script -qec "'$bin' hgs clear-server --dir '$d'" /dev/null >"$T/.tty" 2>&1
	ok $([ $? -eq 1 ] && grep -q "Type the node's name (MyHgsService)" "$T/.tty" &&
		grep -q "not confirmed" "$T/.tty" && [ -f "$d/hgs.db" ]; echo $?) \
		"$tag: on a terminal, a wrong name is not a confirmation (exit 1, node kept)"

	if start_hgs SERVE "$bin" "$d" MyHgsService; then
		run "$bin" hgs clear-server --dir "$d" --force
		ok $([ $RC -eq 1 ] && grep -q "hgs serve\` runs on the HGS node .*(pid $SERVE_PID); stop it first" <<<"$ERR" &&
			[ -f "$d/hgs.db" ]; echo $?) "$tag: clear-server --force refuses while hgs serve runs (exit 1)"
		stop_bg SERVE
	else
		ok 1 "$tag: hgs serve for clear-server"; sed 's/^/# /' "$T/serve.err"
		stop_bg SERVE
	fi

	ln -s "$T/$tag-clear/outside/file" "$d/link-to-file"
	ln -s "$T/$tag-clear/outside/dir" "$d/keys/link-to-dir"
	run "$bin" hgs clear-server --dir "$d" --force --json
	ok $([ $RC -eq 0 ] && jq -e '.Name == "MyHgsService" and .Removed == true' <<<"$OUT" >/dev/null; echo $?) \
		"$tag: clear-server --force --json removes the node"
	ok $([ ! -e "$d" ] && [ -z "$(ls -A "$T/$tag-clear" | grep -v '^outside$')" ]; echo $?) \
		"$tag: nothing of the node remains, nothing set aside is left"
	ok $([ "$(cat "$T/$tag-clear/outside/file")" = keep ] &&
		[ "$(cat "$T/$tag-clear/outside/dir/inner")" = keep ]; echo $?) \
		"$tag: links inside the node are not followed: their targets survive"

	run "$bin" hgs init --dir "$d" --name MyHgsService --domain relecloud.com --listen 127.0.0.2:0
	echo MyHgsService | script -qec "'$bin' hgs clear-server --dir '$d'" /dev/null >"$T/.tty" 2>&1
	ok $([ $? -eq 0 ] && grep -q "removed the HGS node 'MyHgsService'" "$T/.tty" && [ ! -e "$d" ]; echo $?) \
		"$tag: on a terminal, typing the node's name removes it"

	run "$bin" hgs clear-server --dir "$T/$tag-clear/outside" --force
	ok $([ $RC -eq 2 ] && grep -q "is not an HGS node" <<<"$ERR" && [ -f "$T/$tag-clear/outside/file" ]; echo $?) \
		"$tag: a folder that is not a node is refused (exit 2), untouched"
	run "$bin" hgs init --dir "$d" --name MyHgsService --domain relecloud.com --listen 127.0.0.2:0
	ln -s "$d" "$T/$tag-clear/node-link"
	run "$bin" hgs clear-server --dir "$T/$tag-clear/node-link" --force
	ok $([ $RC -eq 2 ] && grep -q "is a symbolic link" <<<"$ERR" && [ -f "$d/hgs.db" ]; echo $?) \
		"$tag: a --dir that is a link to a node is refused (exit 2), the node kept"
	run "$bin" hgs clear-server --dir "$T/$tag-clear/none" --force
	ok $([ $RC -eq 2 ]; echo $?) "$tag: a missing --dir exits 2"
}

# hgs get-attestation-signer-certificate: the PEM whose fingerprint get-server shows.
signer_cert() {
	local bin=$1 tag d thumb fp
	tag=$(tag_of "$bin")
	d=$T/$tag-signer
	run "$bin" hgs init --dir "$d" --name MyHgsService --domain relecloud.com --listen 127.0.0.2:0 --json
	thumb=$(jq -r .AttestationSignerThumbprint <<<"$OUT")
	ok $([ $RC -eq 0 ] && [ ${#thumb} -eq 64 ]; echo $?) "$tag: hgs init shows the signer's thumbprint"
	run "$bin" hgs get-attestation-signer-certificate --dir "$d"
	fp=$(openssl x509 -noout -fingerprint -sha256 <<<"$OUT" | sed 's/.*=//; s/://g')
	ok $([ $RC -eq 0 ] && [ "$fp" = "$thumb" ]; echo $?) \
		"$tag: the PEM's openssl SHA-256 fingerprint is get-server's AttestationSignerThumbprint"
	ok $(openssl x509 -noout -subject <<<"$OUT" | grep -q "CN *= *MyHgsService Attestation Signer"; echo $?) \
		"$tag: the certificate is the node's attestation signer"
	run "$bin" hgs get-attestation-signer-certificate --dir "$d" --out "$T/$tag-signer.pem"
	fp=$(openssl x509 -in "$T/$tag-signer.pem" -noout -fingerprint -sha256 | sed 's/.*=//; s/://g')
	ok $([ $RC -eq 0 ] && [ "$fp" = "$thumb" ] && grep -q "$thumb" <<<"$OUT"; echo $?) \
		"$tag: --out FILE writes the same certificate"
	run "$bin" hgs get-attestation-signer-certificate --dir "$d" --json
	ok $([ $RC -eq 0 ] && jq -e --arg t "$thumb" '.Thumbprint == $t and (.Subject | startswith("CN=MyHgsService"))
		and (.NotBefore | test("Z$")) and (.NotAfter | test("Z$"))
		and (.Pem | startswith("-----BEGIN CERTIFICATE-----"))' <<<"$OUT" >/dev/null; echo $?) \
		"$tag: --json gives Thumbprint, Subject, NotBefore, NotAfter and Pem"
	ok $(jq -j .Pem <<<"$OUT" | cmp -s - "$T/$tag-signer.pem"; echo $?) "$tag: --json's Pem is the PEM"
}

# pcr_lines: "BANK PCR DIGEST" lines of tpm2_eventlog's pcrs: section on stdin.
pcr_lines() {
	awk '/^pcrs:/ { p = 1; next } p && /^  [a-z0-9_]+:$/ { b = $1; sub(":", "", b); next }
	     p && /^ +[0-9]+ +: 0x/ { d = $3; sub("0x", "", d); print b, $1, tolower(d) }'
}

# host get-pcr-values: the real logs' replay, as tpm2_eventlog prints it.
pcr_values() {
	local bin=$1 tag f name mine ref
	tag=$(tag_of "$bin")
	for f in "$ROOT"/tests/data/tcglogs/*.bin; do
		name=$(basename "$f")
		ref=$(tpm2_eventlog "$f" 2>/dev/null | pcr_lines | sort)
		run "$bin" host get-pcr-values --tcglog "$f" --json
		mine=$(jq -r '.[] | "\(.Bank) \(.Pcr) \(.Digest)"' <<<"$OUT" | sort)
		if [ $RC -eq 0 ] && [ -n "$ref" ] && [ "$mine" = "$ref" ]; then
			ok 0 "$tag: get-pcr-values $name: the PCRs of tpm2_eventlog ($(wc -l <<<"$ref") values)"
		else
			ok 1 "$tag: get-pcr-values $name: the PCRs of tpm2_eventlog"
			diff <(echo "$ref") <(echo "$mine") | head -5 | sed 's/^/# /'
		fi
	done
	# a guarded host's own log, as `host get-baseline-policy` writes it
	run "$bin" host new --dir "$T/$tag-fh1" --name FabricHost1 --domain fabrikam.com
	ok $RC "$tag: host new for get-baseline-policy"
	run "$bin" host get-baseline-policy --dir "$T/$tag-fh1" --out "$T/$tag-baseline.tcglog"
	ref=$(tpm2_eventlog "$T/$tag-baseline.tcglog" 2>/dev/null | pcr_lines | sort)
	run "$bin" host get-pcr-values --tcglog "$T/$tag-baseline.tcglog" --json
	mine=$(jq -r '.[] | "\(.Bank) \(.Pcr) \(.Digest)"' <<<"$OUT" | sort)
	ok $([ $RC -eq 0 ] && [ -n "$ref" ] && [ "$mine" = "$ref" ]; echo $?) \
		"$tag: get-pcr-values on a host's get-baseline-policy log: the PCRs of tpm2_eventlog"
	f=$ROOT/tests/data/tcglogs/event-sd-boot-fedora37.bin
	run "$bin" host get-pcr-values --tcglog "$f" --bank sha256
	ok $([ $RC -eq 0 ] && head -n1 <<<"$OUT" | grep -qE '^Bank +Pcr +Digest' &&
		! grep -q '^sha1 ' <<<"$OUT" && grep -qE '^sha256 +0 +[0-9a-f]{64}$' <<<"$OUT"; echo $?) \
		"$tag: get-pcr-values --bank sha256: a table of the sha256 bank only"
	run "$bin" host get-pcr-values --tcglog "$f" --bank sha256 --all-pcrs --json
	ok $([ $RC -eq 0 ] && [ "$(jq length <<<"$OUT")" -eq 24 ]; echo $?) "$tag: --all-pcrs gives PCRs 0-23"
	run "$bin" host get-pcr-values --tcglog "$ROOT/tests/data/tcglogs/event-uefi-sha1-log.bin" --bank sha256
	ok $([ $RC -eq 2 ] && grep -q "has no sha256 bank; its banks: sha1" <<<"$ERR"; echo $?) \
		"$tag: --bank sha256 on a SHA-1-only log exits 2 naming its banks"
	printf 'not a TCG log at all\n' >"$T/junk.bin"
	run "$bin" host get-pcr-values --tcglog "$T/junk.bin"
	ok $([ $RC -eq 2 ] && grep -q "'$T/junk.bin' is not a TCG log that can be replayed: malformed TCG log" <<<"$ERR"; echo $?) \
		"$tag: a file that is not a TCG log exits 2 saying what is wrong"
	head -c 2000 "$f" >"$T/truncated.bin"
	run "$bin" host get-pcr-values --tcglog "$T/truncated.bin"
	ok $([ $RC -eq 2 ] && grep -q "is not a TCG log that can be replayed: .*event" <<<"$ERR"; echo $?) \
		"$tag: a truncated log exits 2 naming the event"
	run "$bin" host get-pcr-values --tcglog "$T/none.bin"
	ok $([ $RC -eq 2 ] && grep -q "cannot read the TCG log" <<<"$ERR"; echo $?) "$tag: a missing file exits 2"
	run "$bin" host get-pcr-values --dir "$T"
	ok $([ $RC -eq 2 ] && grep -q "tcglog.bin" <<<"$ERR"; echo $?) "$tag: --dir without a booted log exits 2"
	run "$bin" host get-pcr-values --tcglog "$f" --bank md5
	ok $([ $RC -eq 2 ] && grep -q "invalid --bank 'md5'" <<<"$ERR"; echo $?) "$tag: an unknown --bank exits 2"
	run "$bin" host get-pcr-values
	ok $([ $RC -eq 2 ]; echo $?) "$tag: neither --tcglog nor --dir exits 2"
}

each_binary clear_server
each_binary signer_cert
each_binary pcr_values
done_testing
