#!/usr/bin/env bash
# make-seeds.sh - make the seed corpora tests/fuzz/corpus/TARGET/ afresh from
# real files: the firmware TCG logs of tests/data/tcglogs, the scenarios of
# scenarios/, and what bin/hgslab's own verbs write in a scratch lab (a
# guarded host's TCG logs and platform identifier, guardians and their
# metadata, a key protector, a template disk with its VSC, a qualifier,
# shielding and specialization data, a fabric domain's trust document and a
# membership ticket from its DC), plus request bodies built from those
# files and keys as the lab's clients send them.
#
# Seeds follow each target's input layout (the comment at the top of
# tests/fuzz/fuzz_TARGET.c): a leading mode byte where the target has modes,
# parts separated by FZ_SEP (below).  Only small files are kept: the whole
# corpus stays well under 1 MB.  Run it after a format changes, review the
# diff and commit; `make fuzz` grows its own corpora in build/fuzz/corpus/.
#
# Usage: tests/fuzz/make-seeds.sh   (HGSLAB=path overrides bin/hgslab; needs openssl, jq, debugfs)
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$(pwd)
H=${HGSLAB:-$root/bin/hgslab}
out=$root/tests/fuzz/corpus
SEP=$'\n--8<--\n'   # FZ_SEP of tests/fuzz/fuzzutil.h

for tool in openssl jq debugfs base64 od; do
	command -v "$tool" >/dev/null || { echo "make-seeds: $tool is missing (make deps)" >&2; exit 1; }
done
[ -x "$H" ] || { echo "make-seeds: $H is not built (make)" >&2; exit 1; }

W=$(mktemp -d "${TMPDIR:-/tmp}/hgslab-seeds.XXXXXX")
DC_PID=""
cleanup() {
	[ -z "$DC_PID" ] || { kill "$DC_PID" 2>/dev/null; wait "$DC_PID" 2>/dev/null || true; }
	rm -rf "$W"
}
trap cleanup EXIT

rm -rf "$out"
mkdir -p "$out"

# seed TARGET NAME [MODE]: stdin is the seed, after the byte MODE (0-255) when given.
seed() {
	mkdir -p "$out/$1"
	{
		[ $# -lt 3 ] || printf "\\$(printf '%03o' "$3")"
		cat
	} >"$out/$1/$2"
}

# le64 N: N as 8 little-endian bytes on stdout.
le64() {
	local n=$1 i
	for i in 0 1 2 3 4 5 6 7; do
		printf "\\$(printf '%03o' $(((n >> (8 * i)) & 255)))"
	done
}

# b64url_decode: base64url (no padding) on stdin to bytes on stdout.
b64url_decode() {
	local s
	s=$(tr '_-' '/+')
	while [ $((${#s} % 4)) -ne 0 ]; do s="$s="; done
	printf '%s' "$s" | base64 -d
}

q() { "$@" >/dev/null; }

# ---- a guarded host: its TCG logs and platform identifier ----
q "$H" host new --dir "$W/h1" --name FabricHost1 --domain fabrikam.com --vendor-dir "$W/vendor"
q "$H" host new --dir "$W/h2" --name FabricHost2 --domain fabrikam.com --vendor-dir "$W/vendor" \
	--profile baseline,debug=on
q "$H" host get-baseline-policy --dir "$W/h1" --out "$W/base.tcglog"
q "$H" host get-baseline-policy --dir "$W/h2" --out "$W/debug.tcglog"
q "$H" host get-platform-identifier --dir "$W/h1" --out "$W/pid.json"
jq -r .ek_tpm_public "$W/pid.json" | base64 -d >"$W/ek.tpm2b"
jq -r .ek_certificate "$W/pid.json" | openssl x509 -outform DER -out "$W/ek.der"

for f in "$W/base.tcglog" "$W/debug.tcglog" tests/data/tcglogs/event-sd-boot-fedora37.bin \
	tests/data/tcglogs/event-uefi-sha1-log.bin tests/data/tcglogs/event-arch-linux.bin; do
	seed tcglog "$(basename "$f")" <"$f"
	seed wbcl "$(basename "$f")" 1 <"$f"
done
seed platform_id identifier.json <"$W/pid.json"
seed tpm_verify ek-public.tpm2b 0 <"$W/ek.tpm2b"
{ cat "$W/vendor/vendor-ca-cert.pem"; printf '%s' "$SEP"; cat "$W/ek.der"; } | seed tpm_verify vendor-ca 3

# ---- guardians, a key protector ----
q "$H" tenant new-guardian --dir "$W/ten" --name Owner
q "$H" tenant new-guardian --dir "$W/hgsg" --name MyHgsService
q "$H" tenant export-guardian --dir "$W/hgsg" --name MyHgsService --out "$W/hgs.xml"
q "$H" tenant import-guardian --dir "$W/ten" --file "$W/hgs.xml" --allow-untrusted-root
q "$H" tenant new-key-protector --dir "$W/ten" --owner Owner --guardian MyHgsService --out "$W/vm.kp"
seed guardian metadata.xml <"$W/hgs.xml"
seed kp vm.kp 0 <"$W/vm.kp"
jq -r .body "$W/vm.kp" | base64 -d | seed kp body.json 1

# ---- templates: signer, disk, VSC, qualifier, shielding and specialization data ----
q "$H" tenant new-template-signer --dir "$W/ten" --name Contoso --key-type ec-p256
q "$H" tenant new-template-disk --out "$W/ws.tdisk" --file "etc/hostname=@ComputerName@" \
	--file "srv/app.conf=host=@ComputerName@.@Domain@" --file "srv/plain=no placeholder"
q "$H" tenant protect-template-disk --disk "$W/ws.tdisk" --name WindowsServer2016 \
	--version 1.0.0.0 --dir "$W/ten" --signer Contoso
q "$H" tenant save-volume-signature-catalog --disk "$W/ws.tdisk" --out "$W/ws.vsc"
q "$H" tenant new-volume-id-qualifier --vsc "$W/ws.vsc" --version-rule greater-than-or-equals \
	--out "$W/ge.viq"
printf 'AdminPassword=Fuzz-Seed-Not-A-Secret\nComputerName=@ComputerName@\n' >"$W/unattend.txt"
printf 'pfx-bytes' >"$W/cert.pfx"
q "$H" tenant new-shielding-data-file --dir "$W/ten" --owner Owner --guardian MyHgsService \
	--volume-id-qualifier "$W/ge.viq" --answer-file "$W/unattend.txt" \
	--other-file "cert.pfx=$W/cert.pfx" --policy shielded --out "$W/vm.pdk"
q "$H" tenant new-specialization-data-file --value "@ComputerName@=ShieldedVM1" \
	--value "@Domain@=contoso.com" --out "$W/vm.fsk"
debugfs -R 'cat /.hgslab/generalized.json' "$W/ws.tdisk" 2>/dev/null >"$W/generalized.json"
size=$(stat -c %s "$W/ws.tdisk")
image=$(od -An -t u8 -j $((size - 512 + 16)) -N 8 "$W/ws.tdisk" | tr -d ' ')
openssl cms -verify -noverify -binary -inform DER -in "$W/ws.vsc" -out "$W/vsc.json" 2>/dev/null

seed vsc ws.vsc 0 <"$W/ws.vsc"
seed vsc content.json 1 <"$W/vsc.json"
{ le64 "$size"; tail -c $((size - image)) "$W/ws.tdisk"; } | seed tdisk ws.trailer 1
seed viq ge.viq <"$W/ge.viq"
seed pdk vm.pdk 0 <"$W/vm.pdk"
jq -r .body "$W/vm.pdk" | base64 -d | seed pdk body.json 1
jq -cn --rawfile a "$W/unattend.txt" --arg p "$(base64 -w0 "$W/cert.pfx")" \
	'{answer_file: {name: "unattend.txt", content: $a}, other_files: {"cert.pfx": $p}}' |
	seed pdk secrets.json 2
{ cat "$W/vm.fsk"; printf '%s' "$SEP"; printf 'host=@ComputerName@.@Domain@\n'; printf '%s' "$SEP"
  cat "$W/generalized.json"; } | seed fsk vm.fsk
jq -n --arg kp "$(jq -r .body "$W/vm.kp" | base64 -d | jq -r .id)" \
	'{version: 1, name: "ShieldedVM1", policy: "shielded", kp_id: $kp, disk_size: 16777216,
	  shielded_at: "2026-11-28T17:21:05Z", disk: "disk.img"}' | seed bundle config.json

# ---- certificates and keys as the lab reads them (lib/crypto) ----
crt=$W/ten/guardians/Owner/signing.crt
seed crypto cert.pem 0 <"$crt"
openssl x509 -in "$crt" -outform DER | seed crypto cert.der 1
cat "$W/vendor/vendor-ca-cert.pem" <(jq -r .ek_certificate "$W/pid.json") | seed crypto bundle.pem 2
openssl x509 -in "$crt" -pubkey -noout | seed crypto pub.pem 3
openssl x509 -in "$crt" -pubkey -noout | openssl pkey -pubin -outform DER | seed crypto pub.der 4
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 2>/dev/null | seed crypto key.pem 5
seed crypto ws.vsc 6 <"$W/ws.vsc"
base64 -w0 "$W/ek.der" | seed crypto base64.txt 7

# ---- a fabric domain: its trust document, a machine key, a membership ticket ----
q "$H" fabric new --dir "$W/fab" --domain fabrikam.com --listen 127.0.0.3:0
q "$H" fabric export-trust --dir "$W/fab" --out "$W/trust.json"
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$W/machine.key" 2>/dev/null
openssl pkey -in "$W/machine.key" -pubout -out "$W/machine.pub"
q "$H" fabric add-computer --dir "$W/fab" --name FabricHost1 --key "$W/machine.pub"
q "$H" fabric add-group --dir "$W/fab" --name GuardedHosts
q "$H" fabric add-group-member --dir "$W/fab" --group GuardedHosts --computer FabricHost1
mkfifo "$W/dc.out"
"$H" fabric serve --dir "$W/fab" >"$W/dc.out" 2>"$W/dc.err" &
DC_PID=$!
exec 3<"$W/dc.out"
read -r -t 30 line <&3 || { echo "make-seeds: fabric serve did not start" >&2; cat "$W/dc.err" >&2; exit 1; }
url=$(grep -oE 'http://[0-9.:]+' <<<"$line")
q "$H" fabric get-ticket --dc-url "$url" --computer FabricHost1 --key "$W/machine.key" \
	--out "$W/ticket"
kill "$DC_PID"
wait "$DC_PID" 2>/dev/null || true
DC_PID=""
seed ad_trust trust.json <"$W/trust.json"
tr -d '\n' <"$W/ticket" >"$W/ticket.jws"
seed ad_ticket ticket 0 <"$W/ticket.jws"
{ cut -d. -f1 "$W/ticket.jws" | b64url_decode; printf '%s' "$SEP"; cut -d. -f2 "$W/ticket.jws" | b64url_decode; } |
	seed ad_ticket header-claims 1
cut -d. -f2 "$W/ticket.jws" | b64url_decode | seed ad_ticket claims 2

# ---- request bodies, as hosts and KPS clients send them ----
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$W/tk.key" 2>/dev/null
openssl pkey -in "$W/tk.key" -pubout -out "$W/tk.pub"
openssl pkey -in "$W/tk.key" -pubout -outform DER -out "$W/tk.der"
openssl rand 32 >"$W/nonce"
cat "$W/nonce" "$W/tk.der" | openssl dgst -sha256 -sign "$W/machine.key" -out "$W/sig"
hostkey_body=$(jq -cn --arg n "$(base64 -w0 "$W/nonce")" --rawfile k "$W/machine.pub" \
	--rawfile t "$W/tk.pub" --arg s "$(base64 -w0 "$W/sig")" \
	'{host: "FabricHost1", nonce: $n, host_key: $k, transport_key: $t, signature: $s}')
ad_body=$(jq -c --rawfile tk "$W/ticket.jws" 'del(.host_key) + {ticket: $tk}' <<<"$hostkey_body")
printf '%s' "$hostkey_body" | seed hostkey host-key 0
printf '%s' "$ad_body" | seed hostkey ticket 1
# hgs_routes: ROUTE FLAGS BODY; routes in the order fuzz_hgs_routes.c collects them:
# 0 nonce, 1 hostkey/attest, 2 tpm/activate, 3 tpm/activate/complete, 4 tpm/attest,
# 5 ad/attest, 6 KeyProtection release; FLAGS as that file says (1 nonce, 2 health
# certificate, 4 host key, ticket and signature of the fixture).
route() { { printf "\\$(printf '%03o' "$2")"; cat; } | seed hgs_routes "$3" "$1"; }
printf '{"host": "FabricHost1"}' | route 0 0 nonce.json
printf '%s' "$hostkey_body" | route 1 5 hostkey.json
ekb=$(base64 -w0 "$W/ek.tpm2b")
jq -cn --arg ek "$(jq -r .ek_public "$W/pid.json")" --arg ak "$ekb" \
	'{host: "FabricHost1", ek_public: $ek, ak: $ak}' | route 2 0 activate.json
jq -cn --arg s "$(base64 -w0 "$W/nonce")" \
	'{host: "FabricHost1", challenge: "0123456789abcdef0123456789abcdef", secret: $s}' |
	route 3 0 activate-complete.json
jq -cn --arg n "$(base64 -w0 "$W/nonce")" --arg ak "$ekb" --arg log "$(base64 -w0 "$W/base.tcglog")" \
	'{host: "FabricHost1", nonce: $n, ak: $ak, quote: $n, quote_signature: $n, tcglog: $log,
	  transport_key: $ak, certify: $n, certify_signature: $n}' | route 4 1 attest.json
printf '%s' "$ad_body" | route 5 5 ad.json
jq -c '{key_protector: ., health_certificate: "x"}' "$W/vm.kp" | route 6 2 release.json
jq -cn --arg kp "$(base64 -w0 "$W/vm.kp")" '{key_protector: $kp, health_certificate: "x"}' |
	route 6 2 release-b64.json

# ---- the scenario files and names from them ----
for f in scenarios/*.yaml scenarios/*/*.yaml; do
	[ -f "$f" ] || continue
	seed scenario "$(basename "$f")" <"$f"
done
names=(FabricHost1 GuardedHosts "S-1-5-21-1004336348-1177238915-682003330-1105" MyHgsService
       relecloud.com ShieldedVM1 Owner WindowsServer2016 1.0.0.0 greater-than-or-equals Passed
       SecureBoot tpm unattend.txt "srv/app.conf")
for i in "${!names[@]}"; do
	printf '%s' "${names[$i]}" | seed names "name$i"
done
printf '@ComputerName@\0ShieldedVM1' | seed names placeholder
printf 'S-1-5-21-1004336348-1177238915-682003330-1105\0S-1-5-21-1004336348-1177238915-682003330' |
	seed names sid-in-domain

echo "make-seeds: $(find "$out" -type f | wc -l) seeds, $(du -sk "$out" | cut -f1) KiB in $out"
