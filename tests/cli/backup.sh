#!/usr/bin/env bash
# backup.sh - Export-HgsServerState / Import-HgsServerState end to end
# (docs/hgs-backup.md) with real processes: the TPM-mode lab (tests/cli/lab.sh:
# MyHgsService served, FabricHost1 baseline and FabricHost2 debug=on with swtpm
# TPMs, a tenant's key protector for the node).  FabricHost1 attests and gets
# its key released; the node is exported while `hgs serve` runs, with the
# password read from standard input (a fifo: the test checks the running
# export's command line and environment, and every `ps` line, while it waits
# for it); the export is mode 0600 and holds no "PRIVATE KEY" and no run of
# any key file's bytes (PEM text, raw DER, hex, base64); the node is stopped
# and removed; a wrong password, a byte flipped in the header, the salt, the
# IV, the ciphertext and the tag, a truncated file, a non-export file and an
# existing node as target are each refused with exit 2 and a clear message,
# and leave the target absent; the import on the same address then serves
# the same thumbprints, FabricHost1 attests Passed again and FabricHost2
# InsecureHostConfiguration (DebugMode), the key protector is released again
# with the same TK fingerprint, and the logs hold the entries from before
# the export and after the import.  The password is in no log or file of
# the lab.  Then the round trip and a refusal with each binary (each_binary:
# the ASan one too, when tests/run.sh names it).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lab.sh"

require swtpm swtpm_setup openssl jq xxd od base64 mkfifo

lab_tpm "$HGSLAB" "$T/lab"
TEN="$W/tenant" KP="$W/vm1.kp"
lab_tenant "$TEN" "$KP"
run "$B" tenant show-key-protector --dir "$TEN" "$KP" --json
FP=$(jq -r .TransportKeyFingerprint <<<"$OUT")
mark "lab ready"

# ---- before: FabricHost1 attests and gets its key ----
run "$B" host test-client-configuration --dir "$H1"
ok $([ $RC -eq 0 ] && [ "$(field AttestationStatus)" = Passed ]; echo $?) "before: FabricHost1 attests Passed"
run "$B" host unwrap-key-protector --dir "$H1" --key-protector "$KP"
ok $([ $RC -eq 0 ] && [ "$(field TransportKeyFingerprint)" = "$FP" ]; echo $?) \
	"before: the key protector is released to FabricHost1 (TK fingerprint $FP)"
run "$B" hgs get-server --dir "$A" --json
THUMBS=$(jq -c '[.AttestationSignerThumbprint, .KeyProtectionSigningThumbprint,
	.KeyProtectionEncryptionThumbprint]' <<<"$OUT")
ok $([ "$(jq length <<<"$THUMBS")" = 3 ] && ! grep -q null <<<"$THUMBS"; echo $?) "the node's thumbprints: $THUMBS"
NATT=$("$B" hgs get-attestation-log --dir "$A" --json | jq length)
NKPS=$("$B" hgs get-key-protection-log --dir "$A" --json | jq length)

# ---- export while `hgs serve` runs, the password on a fifo ----
PW="hgslab-$(od -An -tx1 -N12 /dev/urandom | tr -d ' \n')"
PWHEX=$(printf %s "$PW" | xxd -p | tr -d '\n')
mkdir -m 700 "$T/secret"
printf '%s\n' "$PW" >"$T/secret/pw"
mkfifo "$T/secret/fifo"
EXP="$T/state.hgsbak"
"$B" hgs export-server-state --dir "$A" --out "$EXP" --password-stdin <"$T/secret/fifo" \
	>"$T/export.out" 2>"$T/export.err" &
EXPORT_PID=$!
exec {PWFD}>"$T/secret/fifo"
# the export is now past its open of the fifo, blocked on reading it; wait until it is hgslab itself
for _ in $(seq 100); do
	grep -q export-server-state "/proc/$EXPORT_PID/cmdline" 2>/dev/null && break
	sleep 0.05
done
ok $(grep -q export-server-state "/proc/$EXPORT_PID/cmdline"; echo $?) "the export runs and waits for its password"
# (the password reaches grep through a pipe: as an argument, grep's own ps line would hold it)
ok $(scan_procs "$PWHEX" "$EXPORT_PID" && ! ps -eo args | grep -qF -f <(printf '%s\n' "$PW"); echo $?) \
	"the password is in neither the export's command line nor its environment, nor in any ps line"
printf '%s\n' "$PW" >&"$PWFD"
exec {PWFD}>&-
wait "$EXPORT_PID"
ok $? "hgs export-server-state --password-stdin while hgs serve runs: $(cat "$T/export.out")"
ok $([ "$(stat -c %a "$EXP")" = 600 ] && [ "$(head -c 8 "$EXP")" = HGSLABSS ]; echo $?) \
	"the export is mode 0600 and starts with its magic"

# ---- no key in clear ----
ok $(! grep -qa "PRIVATE KEY" "$EXP"; echo $?) "the export holds no 'PRIVATE KEY' text"
leaks=0 nkeys=0
for key in "$A"/keys/*.key; do
	nkeys=$((nkeys + 1))
	line=$(sed -n 2p "$key")
	grep -qaF "$line" "$EXP" && { leaks=1; echo "# a PEM line of $key is in the export"; }
	der=$(openssl pkey -in "$key" -outform DER 2>/dev/null | xxd -p | tr -d '\n')
	for off in 64 400 1000 2000; do
		holds "$EXP" "${der:$off:64}" && { leaks=1; echo "# bytes of $key at $off are in the export"; }
	done
done
ok $([ $leaks -eq 0 ] && [ $nkeys -ge 3 ]; echo $?) \
	"no PEM line and no run of the DER of any of the $nkeys key files is in the export (raw, hex, base64)"
# the scanner can fail: the key file itself holds what was looked for
key=$(ls "$A"/keys/*.key | head -n1)
der=$(openssl pkey -in "$key" -outform DER | xxd -p | tr -d '\n')
openssl pkey -in "$key" -outform DER >"$T/key.der"
ok $(holds "$T/key.der" "${der:400:64}" && grep -qaF "$(sed -n 2p "$key")" "$key"; echo $?) \
	"the same checks find the key bytes in the key file itself"

# ---- wipe ----
OLD_PORT=$HGS_PORT
stop_bg HGS
ok $STOP_RC "hgs serve stops"
run "$B" hgs clear-server --dir "$A" --force
ok $([ $RC -eq 0 ] && [ ! -e "$A" ]; echo $?) "the node is removed (hgs clear-server --force)"

# ---- refusals: exit 2, a clear message, the target absent ----
NEW="$W/hgs-restored"
# refused WHAT PATTERN ARGS...: import ARGS into NEW exits 2 with PATTERN on stderr, NEW absent.
refused() {
	local what=$1 pattern=$2
	shift 2
	run "$B" hgs import-server-state --dir "$NEW" "$@"
	ok $([ $RC -eq 2 ] && grep -qE -- "$pattern" <<<"$ERR" && [ ! -e "$NEW" ] &&
		! ls -a "$W" | grep -q '\.import-'; echo $?) "$what: exit 2, '$pattern', nothing written"
	[ $RC -eq 2 ] || sed 's/^/# /' <<<"$OUT$ERR"
}
printf 'not the password\n' >"$T/secret/wrong"
refused "a wrong password" "wrong password.*password file" --file "$EXP" --password-file "$T/secret/wrong"
SIZE=$(stat -c %s "$EXP")
for off in 0 9 20 40 $((SIZE / 2)) $((SIZE - 1)); do
	cp "$EXP" "$T/bad.hgsbak"
	flip "$T/bad.hgsbak" "$off"
	refused "a byte flipped at offset $off of $SIZE" \
		"not an HGS server state export|damaged|wrong password, or the file was changed" \
		--file "$T/bad.hgsbak" --password-file "$T/secret/pw"
done
head -c $((SIZE - 1000)) "$EXP" >"$T/bad.hgsbak"
refused "a truncated export" "file was changed or damaged" --file "$T/bad.hgsbak" --password-file "$T/secret/pw"
head -c 20 "$EXP" >"$T/bad.hgsbak"
refused "an export cut inside its header" "truncated" --file "$T/bad.hgsbak" --password-file "$T/secret/pw"
refused "a key protector given as the export" "is not an HGS server state export" \
	--file "$KP" --password-file "$T/secret/pw"
ln -s "$EXP" "$T/link.hgsbak"
refused "a symbolic link to the export" "symbolic link" --file "$T/link.hgsbak" --password-file "$T/secret/pw"
run "$B" hgs import-server-state --dir "$NEW" --file "$EXP"
ok $([ $RC -eq 2 ] && grep -q "password-file FILE or --password-stdin" <<<"$ERR" && [ ! -e "$NEW" ]; echo $?) \
	"no terminal and no password option: exit 2 saying how to give it"

# ---- import, serve, the same node ----
run "$B" hgs import-server-state --dir "$NEW" --file "$EXP" --password-file "$T/secret/pw" \
	--listen "$A_ADDR:$OLD_PORT"
ok $RC "import-server-state into a new directory, on the old address: $OUT"
[ $RC -eq 0 ] || sed 's/^/# /' <<<"$ERR"
run "$B" hgs import-server-state --dir "$NEW" --file "$EXP" --password-file "$T/secret/pw"
ok $([ $RC -eq 2 ] && grep -q "not empty" <<<"$ERR" && [ -f "$NEW/hgs.db" ]; echo $?) \
	"importing over the restored node: exit 2 (not empty), the node kept"
run "$B" hgs import-server-state --dir "$NEW" --file "$EXP"
ok $([ $RC -eq 2 ] && grep -q "not empty" <<<"$ERR" && ! grep -q password <<<"$ERR"; echo $?) \
	"a target that is not empty is refused before any password is asked"
ok $([ "$(stat -c %a "$NEW")" = 700 ] && [ "$(stat -c %a "$NEW/keys/kps-encryption.key")" = 600 ] &&
	[ "$(stat -c %a "$NEW/keys/kps-encryption.crt")" = 644 ]; echo $?) \
	"the restored node: folder 0700, keys 0600, certificates 0644"
run "$B" hgs get-server --dir "$NEW" --json
ok $([ "$(jq -c '[.AttestationSignerThumbprint, .KeyProtectionSigningThumbprint,
	.KeyProtectionEncryptionThumbprint]' <<<"$OUT")" = "$THUMBS" ]; echo $?) "get-server: the same three thumbprints"
start_hgs HGS "$B" "$NEW" MyHgsService
ok $([ "$HGS_URL" = "http://$A_ADDR:$OLD_PORT" ]; echo $?) "the restored node serves on the old address: $LINE"
run "$B" host test-client-configuration --dir "$H1"
ok $([ $RC -eq 0 ] && [ "$(field AttestationStatus)" = Passed ]; echo $?) "after: FabricHost1 attests Passed"
run "$B" host test-client-configuration --dir "$H2"
ok $([ $RC -eq 4 ] && [ "$(field AttestationStatus)" = InsecureHostConfiguration ] &&
	[ "$(field AttestationSubstatus)" = DebugMode ]; echo $?) \
	"after: FabricHost2 (debug=on) is still refused: InsecureHostConfiguration (DebugMode)"
run "$B" host unwrap-key-protector --dir "$H1" --key-protector "$KP"
ok $([ $RC -eq 0 ] && [ "$(field TransportKeyFingerprint)" = "$FP" ]; echo $?) \
	"after: the same key protector is released to FabricHost1 (the same TK fingerprint)"
ok $([ "$("$B" hgs get-attestation-log --dir "$NEW" --json | jq length)" -eq $((NATT + 2)) ] &&
	[ "$("$B" hgs get-key-protection-log --dir "$NEW" --json | jq length)" -eq $((NKPS + 1)) ]; echo $?) \
	"the logs hold the $NATT attestations and $NKPS releases from before, and the new ones"
ok $(! grep -rqaF -f <(printf '%s\n' "$PW") "$W" "$T/export.out" "$T/export.err" "$EXP" &&
	! grep -rqaiF -f <(printf '%s\n' "$PWHEX") "$W"; echo $?) "the password is in no file of the lab, no log, not in the export"

# ---- each binary: the round trip and a refusal (ASan too) ----
# roundtrip BIN: export the restored node (served) with BIN, import into a new folder, compare.
roundtrip() {
	local bin=$1 tag out new
	tag=release
	[ "$bin" = "${HGSLAB_ASAN:-}" ] && tag=asan
	out="$T/rt-$tag.hgsbak" new="$W/rt-$tag"
	run "$bin" hgs export-server-state --dir "$NEW" --out "$out" --password-file "$T/secret/pw"
	ok $RC "$tag: export-server-state while hgs serve runs"
	[ $RC -eq 0 ] || sed 's/^/# /' <<<"$ERR" | head -n5
	run "$bin" hgs import-server-state --dir "$new" --file "$out" --password-file "$T/secret/wrong"
	ok $([ $RC -eq 2 ] && [ ! -e "$new" ]; echo $?) "$tag: a wrong password is refused (exit 2), nothing written"
	[ $RC -eq 2 ] || sed 's/^/# /' <<<"$ERR" | head -n5
	# (not `run`: it gives the command /dev/null as standard input)
	"$bin" hgs import-server-state --dir "$new" --file "$out" --password-stdin --listen "$A_ADDR:0" \
		<"$T/secret/pw" >"$T/.out" 2>"$T/.err"
	RC=$? ERR=$(cat "$T/.err")
	ok $([ $RC -eq 0 ] && [ "$("$B" hgs get-server --dir "$new" --json | jq -c '[.AttestationSignerThumbprint,
		.KeyProtectionSigningThumbprint, .KeyProtectionEncryptionThumbprint]')" = "$THUMBS" ]; echo $?) \
		"$tag: import-server-state --password-stdin gives the same thumbprints"
	[ $RC -eq 0 ] || sed 's/^/# /' <<<"$ERR" | head -n5
}
each_binary roundtrip

stop_bg HGS
ok $STOP_RC "the restored node's hgs serve stops"
done_testing
