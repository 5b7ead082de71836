#!/usr/bin/env bash
# exitcodes.sh - one exit code for one kind of failure, across every verb
# (README "Exit codes"): the codes expected are read from the README's
# table; every option of every verb whose metavar names a file or a folder
# (as `hgslab AREA VERB --help` lists it, and the positional FILE of a
# verb's usage) is either an input, run with a missing path and with files
# of the wrong kind (a text file, a file of another hgslab kind) and
# expected to exit with the bad-input code naming the path, or listed below
# as not an input with the reason: a new verb or option that is neither
# fails here.  A set of refusals by HGS, KPS and the tenant's checks
# expects the refusal code; and every --json output of the run has
# PascalCase keys only.  Runs against $HGSLAB (the rule is the command
# line's, the same in both builds).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lab.sh"

require jq openssl debugfs mke2fs awk
B=$HGSLAB
built "$B" || exit 1

# ---- the README's table ----
readme_code() { awk -F'|' -v m="$1" 'index($3, m) && $2 ~ /^ *[0-9]+ *$/ { gsub(/ /, "", $2); print $2; exit }' "$ROOT/README.md"; }
BAD=$(readme_code "bad input file")
NO=$(readme_code "check said no")
ok $([ -n "$BAD" ] && [ -n "$NO" ]; echo $?) "README: bad input file exits ${BAD:-?}, a refusal ${NO:-?}"
ok $(grep -q "^| $BAD | .*missing or of the wrong kind" "$ROOT/README.md"; echo $?) \
	"README: the table says a missing input file or one of the wrong kind is bad input"

# ---- fixtures: a TPM-mode lab, a tenant, a fabric, templates ----
W="$T/lab"
lab_tpm "$B" "$W"
TEN="$T/ten"
KP="$T/vm.kp"
lab_tenant "$TEN" "$KP"
F="$T/fabric"
V="$T/vmm"
printf 'hello, not what you expected\n' >"$T/text.txt"
mkdir -p "$T/junkdir" "$T/src/etc" && printf 'x\n' >"$T/junkdir/x" && printf '@ComputerName@\n' >"$T/src/etc/hostname"
printf 'Password=1\n' >"$T/unattend.txt"
printf '@Domain@=example.com\n' >"$T/values.txt"
printf 'a password for the export\n' >"$T/pw.txt" && : >"$T/empty.txt"
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$T/kpcert.key" -out "$T/kpcert.crt" -days 30 \
	-subj /CN=kps-signing >/dev/null 2>&1
{
	"$B" host get-host-key --dir "$H1" --out "$W/h1.hostkey.pem" &&
	"$B" fabric new --dir "$F" --domain fabrikam.com --listen "$NET.9:0" &&
	"$B" fabric add-computer --dir "$F" --name FabricHost1 --key "$W/h1.hostkey.pem" &&
	"$B" fabric export-trust --dir "$F" --out "$T/trust.json" &&
	"$B" tenant new-guardian --dir "$TEN" --name Other &&
	"$B" tenant export-guardian --dir "$TEN" --name Other --out "$T/other.xml" &&
	"$B" tenant new-key-protector --dir "$TEN" --owner Owner --guardian Other --out "$T/other.kp" &&
	"$B" tenant new-vm --dir "$TEN" --name vm1 --file etc/motd=hi &&
	"$B" tenant new-template-signer --dir "$TEN" --name Contoso &&
	"$B" tenant new-template-disk --out "$T/ws.tdisk" --files "$T/src" &&
	"$B" tenant protect-template-disk --disk "$T/ws.tdisk" --name WS --version 1.0.0.0 --dir "$TEN" --signer Contoso &&
	"$B" tenant save-volume-signature-catalog --disk "$T/ws.tdisk" --out "$T/ws.vsc" &&
	"$B" tenant new-volume-id-qualifier --vsc "$T/ws.vsc" --version-rule equals --out "$T/ws.viq" &&
	"$B" tenant new-shielding-data-file --dir "$TEN" --owner Owner --guardian MyHgsService \
		--volume-id-qualifier "$T/ws.viq" --answer-file "$T/unattend.txt" --policy shielded --out "$T/ws.pdk" &&
	"$B" tenant new-specialization-data-file --value @ComputerName@=vm9 --out "$T/ws.fsk" &&
	"$B" vmm new-cloud --dir "$V" --name Cloud --host "$H1" &&
	"$B" hgs export-server-state --dir "$A" --out "$T/state.hgsbak" --password-file "$T/pw.txt"
} >"$T/fixtures.log" 2>&1
ok $? "fixtures: host key, fabric trust, guardian, KPs, a plain VM, template, .vsc, .viq, .pdk, .fsk, a cloud, an HGS export"
[ $? -eq 0 ] || sed 's/^/# /' "$T/fixtures.log"

# ---- what every file or folder option is ----
# INPUT["AREA VERB --OPT"]="the other options, valid; @ where the value goes"
# (--OPT @ is added when @ is not in it; "ARG" is the positional FILE);
# WRONG[...]: the files of the wrong kind to try (default: a text file and a folder).
declare -A INPUT WRONG NOTIN
INPUT["hgs init --tpm-vendor-ca"]="--dir $T/init.@N --name X --domain a.com --listen 127.0.0.1:0 --trust tpm"
INPUT["hgs set-server --tpm-vendor-ca"]="--dir $A"
INPUT["hgs add-tpm-host --platform-identifier"]="--dir $A --name New1"
WRONG["hgs add-tpm-host --platform-identifier"]="$T/text.txt $W/h1.tcglog $T/ws.pdk"
INPUT["hgs add-tpm-policy --tcglog"]="--dir $A --name New2"
WRONG["hgs add-tpm-policy --tcglog"]="$T/text.txt $W/h1.pid.json"
INPUT["hgs add-ci-policy --policy"]="--dir $A --name New3"
WRONG["hgs add-ci-policy --policy"]="$T/text.txt $W/h1.tcglog $W/h1.pid.json"
INPUT["hgs add-host-key --key"]="--dir $A --name New4"
WRONG["hgs add-host-key --key"]="$T/text.txt $W/h1.tcglog"
INPUT["hgs add-trusted-domain --file"]="--dir $A"
WRONG["hgs add-trusted-domain --file"]="$T/text.txt $W/h1.pid.json"
INPUT["hgs export-server-state --password-file"]="--dir $A --out $T/exp.@N.hgsbak"
WRONG["hgs export-server-state --password-file"]="$T/empty.txt $T/junkdir"
INPUT["hgs import-server-state --file"]="--dir $T/imp.@N --password-file $T/pw.txt"
WRONG["hgs import-server-state --file"]="$T/text.txt $T/junkdir $KP $W/h1.tcglog"
INPUT["hgs import-server-state --password-file"]="--dir $T/imp.@N --file $T/state.hgsbak"
WRONG["hgs import-server-state --password-file"]="$T/text.txt $T/empty.txt $T/junkdir"
INPUT["hgs add-node --from"]="--dir $T/node.@N --node-name Node@N"
INPUT["hgs add-node --from-state"]="--dir $T/node.@N --node-name Node@N --store postgresql://127.0.0.1:1/hgs --password-file $T/pw.txt"
WRONG["hgs add-node --from-state"]="$T/text.txt $T/junkdir $KP $W/h1.tcglog"
INPUT["hgs add-node --password-file"]="--dir $T/node.@N --node-name Node@N --store postgresql://127.0.0.1:1/hgs --from-state $T/state.hgsbak"
WRONG["hgs add-node --password-file"]="$T/text.txt $T/empty.txt $T/junkdir"
INPUT["hgs add-key-protection-certificate --key"]="--dir $A --certificate-type signing --certificate $T/kpcert.crt"
WRONG["hgs add-key-protection-certificate --key"]="$T/text.txt $T/kpcert.crt"
INPUT["hgs add-key-protection-certificate --certificate"]="--dir $A --certificate-type signing --key $T/kpcert.key"
WRONG["hgs add-key-protection-certificate --certificate"]="$T/text.txt $T/kpcert.key"
INPUT["host unwrap-key-protector --key-protector"]="--dir $H1"
WRONG["host unwrap-key-protector --key-protector"]="$T/text.txt $T/ws.pdk"
INPUT["host import-vm --bundle"]="--dir $H1"
WRONG["host import-vm --bundle"]="$T/text.txt $T/junkdir"
INPUT["host new-shielded-vm --template"]="--dir $H1 --name p1 --pdk $T/ws.pdk"
WRONG["host new-shielded-vm --template"]="$T/text.txt $T/ws.vsc"
INPUT["host new-shielded-vm --pdk"]="--dir $H1 --name p1 --template $T/ws.tdisk"
WRONG["host new-shielded-vm --pdk"]="$T/text.txt $KP"
INPUT["host new-shielded-vm --fsk"]="--dir $H1 --name p1 --template $T/ws.tdisk --pdk $T/ws.pdk"
WRONG["host new-shielded-vm --fsk"]="$T/text.txt $T/ws.pdk"
INPUT["vmm new-cloud --host"]="--dir $V --name Cloud2"
WRONG["vmm new-cloud --host"]="$T/text.txt $T/junkdir"
INPUT["vmm deploy --template"]="--dir $V --cloud Cloud --name d1 --pdk $T/ws.pdk"
WRONG["vmm deploy --template"]="$T/text.txt $T/ws.vsc"
INPUT["vmm deploy --pdk"]="--dir $V --cloud Cloud --name d1 --template $T/ws.tdisk"
WRONG["vmm deploy --pdk"]="$T/text.txt $KP"
INPUT["vmm deploy --fsk"]="--dir $V --cloud Cloud --name d1 --template $T/ws.tdisk --pdk $T/ws.pdk"
WRONG["vmm deploy --fsk"]="$T/text.txt $T/ws.pdk"
INPUT["tenant import-guardian --file"]="--dir $TEN --name Imp1 --allow-untrusted-root"
WRONG["tenant import-guardian --file"]="$T/text.txt $KP"
INPUT["tenant import-guardian --trusted-root"]="--dir $TEN --name Imp2 --file $T/other.xml"
WRONG["tenant import-guardian --trusted-root"]="$T/text.txt $T/other.xml"
INPUT["tenant grant-key-protector-access --key-protector"]="--dir $TEN --guardian Other"
WRONG["tenant grant-key-protector-access --key-protector"]="$T/text.txt $T/ws.pdk"
INPUT["tenant revoke-key-protector-access --key-protector"]="--dir $TEN --guardian Other"
WRONG["tenant revoke-key-protector-access --key-protector"]="$T/text.txt $T/ws.pdk"
INPUT["tenant show-key-protector ARG"]="--dir $TEN"
WRONG["tenant show-key-protector ARG"]="$T/text.txt $T/ws.pdk"
INPUT["tenant new-vm --files"]="--dir $TEN --name vm2"
WRONG["tenant new-vm --files"]="$T/text.txt"
INPUT["tenant shield-vm --key-protector"]="--dir $TEN --vm vm1 --policy shielded"
WRONG["tenant shield-vm --key-protector"]="$T/text.txt $T/ws.pdk"
INPUT["tenant inspect-vm --bundle"]=""
WRONG["tenant inspect-vm --bundle"]="$T/text.txt $T/junkdir"
INPUT["tenant new-template-disk --files"]="--out $T/nt.tdisk"
WRONG["tenant new-template-disk --files"]="$T/text.txt"
INPUT["tenant protect-template-disk --disk"]="--name WS --version 1.0.0.0 --dir $TEN --signer Contoso"
WRONG["tenant protect-template-disk --disk"]="$T/text.txt $T/ws.pdk"
INPUT["tenant protect-template-disk --signer-cert"]="--disk $T/ws.tdisk --name WS --version 1.0.0.0 --signer-key $TEN/signers/Contoso/signer.key"
WRONG["tenant protect-template-disk --signer-cert"]="$T/text.txt $TEN/signers/Contoso/signer.key"
INPUT["tenant protect-template-disk --signer-key"]="--disk $T/ws.tdisk --name WS --version 1.0.0.0 --signer-cert $TEN/signers/Contoso/signer.crt"
WRONG["tenant protect-template-disk --signer-key"]="$T/text.txt $TEN/signers/Contoso/signer.crt"
INPUT["tenant protect-template-disk --populate-from"]="--disk $T/ws.tdisk --version 1.0.0.0 --dir $TEN --signer Contoso"
WRONG["tenant protect-template-disk --populate-from"]="$T/text.txt $T/ws.pdk"
INPUT["tenant save-volume-signature-catalog --disk"]="--out $T/x.vsc"
WRONG["tenant save-volume-signature-catalog --disk"]="$T/text.txt $T/ws.pdk"
INPUT["tenant new-volume-id-qualifier --vsc"]="--version-rule equals --out $T/x.viq"
WRONG["tenant new-volume-id-qualifier --vsc"]="$T/text.txt $T/ws.pdk"
INPUT["tenant new-volume-id-qualifier --disk"]="--version-rule equals --out $T/x.viq"
WRONG["tenant new-volume-id-qualifier --disk"]="$T/text.txt $T/ws.pdk"
INPUT["tenant new-shielding-data-file --volume-id-qualifier"]="--dir $TEN --owner Owner --guardian MyHgsService --policy shielded --out $T/x.pdk"
WRONG["tenant new-shielding-data-file --volume-id-qualifier"]="$T/text.txt $T/ws.pdk"
INPUT["tenant new-shielding-data-file --answer-file"]="--dir $TEN --owner Owner --guardian MyHgsService --volume-id-qualifier $T/ws.viq --policy shielded --out $T/x.pdk"
WRONG["tenant new-shielding-data-file --answer-file"]="$T/junkdir"
INPUT["tenant new-shielding-data-file --other-file"]="--dir $TEN --owner Owner --guardian MyHgsService --volume-id-qualifier $T/ws.viq --policy shielded --out $T/x.pdk --other-file x=@"
WRONG["tenant new-shielding-data-file --other-file"]="$T/junkdir"
INPUT["tenant new-specialization-data-file --from"]="--out $T/x.fsk"
WRONG["tenant new-specialization-data-file --from"]="$T/ws.pdk $T/junkdir"
INPUT["tenant test-shielding-data-applicability --pdk"]="--disk $T/ws.tdisk"
WRONG["tenant test-shielding-data-applicability --pdk"]="$T/text.txt $KP"
INPUT["tenant test-shielding-data-applicability --disk"]="--pdk $T/ws.pdk"
WRONG["tenant test-shielding-data-applicability --disk"]="$T/text.txt $T/ws.pdk"
INPUT["tenant test-shielding-data-applicability --vsc"]="--pdk $T/ws.pdk"
WRONG["tenant test-shielding-data-applicability --vsc"]="$T/text.txt $T/ws.pdk"
INPUT["tenant show-shielding-data-file --pdk"]=""
WRONG["tenant show-shielding-data-file --pdk"]="$T/text.txt $KP"
INPUT["fabric add-computer --key"]="--dir $F --name New5"
WRONG["fabric add-computer --key"]="$T/text.txt $W/h1.tcglog"
INPUT["fabric get-ticket --key"]="--dc-url http://127.0.0.1:1 --computer FabricHost1 --out $T/x.jws"
WRONG["fabric get-ticket --key"]="$T/text.txt $W/h1.hostkey.pem"
INPUT["host get-pcr-values --tcglog"]=""
WRONG["host get-pcr-values --tcglog"]="$T/text.txt $T/ws.pdk"
INPUT["faults --scenario"]="--list"
WRONG["faults --scenario"]="$T/text.txt $T/ws.pdk"
INPUT["run ARG"]=""
WRONG["run ARG"]="$T/text.txt $T/ws.pdk"
INPUT["up ARG"]="--workdir $T/up"
INPUT["diagnose --hgs"]=""
INPUT["diagnose --host"]=""
WRONG["up ARG"]="$T/text.txt $T/ws.pdk"

NOTIN["--dir"]="the verb's own folder (made by its init or new verb), not an input file"
NOTIN["--out"]="written, not read"
NOTIN["--workdir"]="the lab folder, made when missing"
NOTIN["--guest"]="the guest build (make guest): a missing one is a missing dependency"
NOTIN["host new --vendor-dir"]="the lab's TPM vendor CA, created when missing"
INPUT["host new --tpm-state"]="--dir $T/tpmstate.@N --name FabricHost9 --domain fabrikam.com --vendor-dir $W/hosts/tpm-vendor"
NOTIN["bench fabric --cache"]="the TPM state cache, made (or rebuilt) when missing"
NOTIN["host keep-vm --template"]="the VM keeper's own input, checked by new-shielded-vm --start, which runs it"
NOTIN["host keep-vm --pdk"]="the VM keeper's own input, checked by new-shielded-vm --start, which runs it"
NOTIN["host keep-vm --fsk"]="the VM keeper's own input, checked by new-shielded-vm --start, which runs it"
NOTIN["tenant new-vm --file"]="NAME=CONTENT: the content is given, NAME=@PATH is tested as tenant new-template-disk --file"
INPUT["tenant new-template-disk --file"]="--out $T/nt2.tdisk --file x=@"
WRONG["tenant new-template-disk --file"]="$T/junkdir"

# The options of VERB ("AREA VERB" or "AREA") whose metavar is a file or a folder, one per line.
path_options() {
	local help
	help=$("$B" $1 --help) || return 1
	awk '/^Options:/ { f = 1; next }
	     f && /^ +(-[a-z], )?--[a-z-]+ / {
		for (i = 1; i <= NF; i++) if ($i ~ /^--/) { o = $i; m = $(i + 1); break }
		if (m ~ /^(FILE|[A-Z]*DIR|TDISK|PDK|FSK|NAME=FILE|NAME=CONTENT)$/) print o
	     }' <<<"$help"
	head -n1 <<<"$help" | grep -qE ' FILE(\.\.\.)?$' && echo ARG
}

N=0
# try KEY PATH: run KEY's verb with PATH as the value of its option; sets RC, OUT, ERR.
try() {
	local key=$1 path=$2 verb opt args
	verb=${key% *} opt=${key##* }
	N=$((N + 1))
	args=${INPUT[$key]//@N/$N}
	if [ "$opt" = ARG ]; then
		args="$args $path"
	elif [[ "$args" == *"$opt x=@"* ]]; then
		args=${args//"$opt x=@"/"$opt x=@$path"}
	else
		args="$args $opt $path"
	fi
	# shellcheck disable=SC2086
	run "$B" $verb $args
}

VERBS=$( "$B" --help | awk '/^Areas:/ { f = 1; next } f && /^  [a-z]/ { print $1 } /^$/ && f { f = 0 }')
ok $([ -n "$VERBS" ]; echo $?) "the areas, from hgslab --help"
seen=0
for area in $VERBS; do
	verbs=$("$B" "$area" --help | awk '/^Verbs:/ { f = 1; next } f && /^  [a-z]/ { print $1 }')
	for v in ${verbs:-""}; do
		cmd="$area${v:+ $v}"
		for opt in $(path_options "$cmd"); do
			key="$cmd $opt"
			seen=$((seen + 1))
			if [ -z "${INPUT[$key]+set}" ]; then
				# not an input (NOTIN says why), else a new option nobody classified
				[ -n "${NOTIN[$key]:-${NOTIN[$opt]:-}}" ] ||
					ok 1 "$key: neither an input tested here nor listed as not one: add it"
				continue
			fi
			try "$key" "$T/missing/${opt#--}"
			ok $([ "$RC" = "$BAD" ] && grep -qF "$T/missing/${opt#--}" <<<"$ERR"; echo $?) \
				"$key with a missing file: exit $BAD naming it (got $RC)"
			[ "$RC" = "$BAD" ] && grep -qF "$T/missing/${opt#--}" <<<"$ERR" || sed 's/^/# /' <<<"$ERR" | head -n3
			for wrong in ${WRONG[$key]:-$T/text.txt $T/junkdir}; do
				try "$key" "$wrong"
				ok $([ "$RC" = "$BAD" ] && grep -qF "$wrong" <<<"$ERR"; echo $?) \
					"$key with $(basename "$wrong") (the wrong kind): exit $BAD naming it (got $RC)"
				[ "$RC" = "$BAD" ] && grep -qF "$wrong" <<<"$ERR" || sed 's/^/# /' <<<"$ERR" | head -n3
			done
		done
	done
done
ok $([ "$seen" -gt 40 ]; echo $?) "$seen file and folder options found in the help"
for key in "${!INPUT[@]}"; do
	path_options "${key% *}" 2>/dev/null | grep -qx -- "${key##* }"
	ok $? "$key is still an option (this test's table is not stale)"
done

# ---- refusals ----
refused() {
	ok $([ "$RC" = "$NO" ]; echo $?) "$1: exit $NO (got $RC)"
	[ "$RC" = "$NO" ] || sed 's/^/# /' <<<"$ERR" | head -n3
}
run "$B" host test-client-configuration --dir "$H1"
ok $RC "FabricHost1 (baseline, registered) passes attestation"
run "$B" host unwrap-key-protector --dir "$H1" --key-protector "$T/other.kp"
refused "KPS refuses a key protector that does not name its HGS"
run "$B" host test-client-configuration --dir "$H2"
refused "FabricHost2 (debug=on) fails attestation"
run "$B" host unwrap-key-protector --dir "$H2" --key-protector "$KP"
refused "a host that failed attestation asks no key"
"$B" hgs remove-tpm-host --dir "$A" --name FabricHost2 >/dev/null
run "$B" host test-client-configuration --dir "$H2"
refused "an unregistered host: UnauthorizedHost"
run "$B" tenant import-guardian --dir "$TEN" --name Imp3 --file "$T/other.xml"
refused "a self-signed guardian without --allow-untrusted-root"
printf 'x\n' >"$T/src/etc/extra"
"$B" tenant new-template-disk --out "$T/ws2.tdisk" --files "$T/src" >/dev/null &&
	"$B" tenant protect-template-disk --disk "$T/ws2.tdisk" --name WS --version 2.0.0.0 --dir "$TEN" \
		--signer Contoso >/dev/null
run "$B" tenant test-shielding-data-applicability --pdk "$T/ws.pdk" --disk "$T/ws2.tdisk"
refused "shielding data that does not trust the template"
run "$B" host new-shielded-vm --dir "$H2" --name p2 --template "$T/ws.tdisk" --pdk "$T/ws.pdk"
refused "new-shielded-vm on a host that fails attestation"
run "$B" fabric get-ticket --dc-url "http://127.0.0.1:1" --computer Nobody --key "$T/kpcert.key" --out "$T/x.jws"
ok $([ "$RC" != 0 ] && [ "$RC" != "$BAD" ]; echo $?) "get-ticket from no DC is not a bad input (got $RC)"

# ---- every --json output is PascalCase ----
# (the benchmarks' --json, a lab of several seconds each, is checked by bench.sh and kps_e2e.sh)
pascal() {
	run "$B" "$@" --json
	ok $([ "$RC" = 0 ] && pascal_keys <<<"$OUT"; echo $?) "$* --json: PascalCase keys only"
}
pascal diagnose
pascal hgs get-server --dir "$A"
pascal hgs get-tpm-host --dir "$A"
pascal hgs get-tpm-policy --dir "$A"
pascal hgs get-ci-policy --dir "$A"
pascal hgs get-attestation-policy --dir "$A"
pascal hgs get-attestation-log --dir "$A"
pascal hgs get-key-protection-certificate --dir "$A"
pascal hgs get-key-protection-policy --dir "$A"
pascal hgs get-key-protection-log --dir "$A"
pascal hgs get-trusted-domain --dir "$A"
pascal hgs get-host-key --dir "$A"
pascal hgs get-host-group --dir "$A"
pascal host get-client-configuration --dir "$H1"
pascal host test-client-configuration --dir "$H1"
pascal host get-vm --dir "$H1"
pascal host unwrap-key-protector --dir "$H1" --key-protector "$KP"
pascal tenant get-guardian --dir "$TEN"
pascal tenant show-key-protector --dir "$TEN" "$KP"
pascal tenant show-shielding-data-file --pdk "$T/ws.pdk" --dir "$TEN"
pascal tenant test-shielding-data-applicability --pdk "$T/ws.pdk" --disk "$T/ws.tdisk"
pascal fabric get-domain --dir "$F"
pascal fabric get-group --dir "$F"
pascal fabric get-computer --dir "$F"
pascal vmm get-cloud --dir "$V"
pascal vmm get-placement --dir "$V"
pascal vmm new-cloud --dir "$V" --name Cloud3 --host "$H1"
pascal attack list
pascal version

stop_bg HGS
done_testing
