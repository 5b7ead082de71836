#!/usr/bin/env bash
# edges.sh - the rough edges of everyday use (issue 13, point 4), each with
# a case that failed before its fix: a registration file of the wrong kind
# exits 2 and says what is wrong with the file (nothing registered);
# `hgs init` makes no missing parent folders; help text columns never run
# together and say "(repeatable)" once; a verb that refuses prints no
# progress first, and an error is printed once.
# Runs against $HGSLAB and, when set, $HGSLAB_ASAN.
. "$(dirname "$0")/lib.sh"

fixtures="$ROOT/tests/data/tcglogs"

# help_ok BIN: every area's verb list and every verb's options keep two spaces between columns.
help_lines() {
	local bin=$1 a v
	for a in hgs host tenant fabric vmm bench attack; do
		"$bin" "$a" --help 2>&1 | awk -v a="$a" '/^  [a-z]/ { print a ": " $0 }'
		for v in $("$bin" "$a" --help 2>&1 | awk '/^  [a-z][a-z0-9-]*( |$)/{ print $1 }'); do
			"$bin" "$a" "$v" --help 2>&1 | awk -v a="$a $v" '/^  +-/ { print a ": " $0 }'
		done
	done
}

edges() {
	local bin=$1 tag d
	tag=main; [ "$bin" = "$HGSLAB" ] || tag=asan
	d="$T/$tag"
	mkdir -p "$d"

	# hgs init: the parent of --dir must exist, as for every other verb
	run "$bin" hgs init --dir "$d/no/such/node" --name MyHgsService --domain relecloud.com \
		--listen 127.0.0.9:0
	ok $([ $RC -eq 2 ] && grep -q "no/such" <<<"$ERR" && [ ! -e "$d/no" ]; echo $?) \
		"$tag: hgs init does not create missing parent folders (exit 2)"
	run "$bin" hgs init --dir "$d/node" --name MyHgsService --domain relecloud.com --listen 127.0.0.9:0
	ok $RC "$tag: hgs init"

	# add-tpm-policy: a file that is not a usable TCG log is bad input, and nothing is registered
	printf 'hello, not a log\n' >"$d/notalog"
	run "$bin" hgs add-tpm-policy --dir "$d/node" --name P1 --tcglog "$d/notalog"
	ok $([ $RC -eq 2 ] && grep -q "notalog" <<<"$ERR" && ! grep -q "registered TPM baseline" <<<"$ERR" &&
		! grep -q "remove it" <<<"$ERR"; echo $?) \
		"$tag: add-tpm-policy of a non-log: exit 2, says what is wrong with the file"
	head -c 100 "$fixtures/event-sd-boot-fedora37.bin" >"$d/truncated"
	run "$bin" hgs add-tpm-policy --dir "$d/node" --name P2 --tcglog "$d/truncated"
	ok $([ $RC -eq 2 ] && ! grep -q "remove it" <<<"$ERR"; echo $?) "$tag: add-tpm-policy of a truncated log: exit 2"
	run "$bin" hgs add-tpm-policy --dir "$d/node" --name P3 --tcglog "$fixtures/event-uefi-sha1-log.bin"
	ok $([ $RC -eq 2 ] && grep -qi "sha-256" <<<"$ERR"; echo $?) "$tag: add-tpm-policy of a SHA-1-only log: exit 2"
	run "$bin" hgs get-tpm-policy --dir "$d/node" --json
	ok $([ $RC -eq 0 ] && ! grep -q '"P[123]"' <<<"$OUT"; echo $?) "$tag: nothing was registered"

	# add-ci-policy: a TCG log (or any file) is not a CI policy
	run "$bin" hgs add-ci-policy --dir "$d/node" --name C1 --policy "$fixtures/event-sd-boot-fedora37.bin"
	ok $([ $RC -eq 2 ] && grep -qi "not a CI policy" <<<"$ERR"; echo $?) "$tag: add-ci-policy of a TCG log: exit 2"
	run "$bin" hgs get-ci-policy --dir "$d/node" --json
	ok $([ $RC -eq 0 ] && ! grep -q '"C1"' <<<"$OUT"; echo $?) "$tag: no CI policy was registered"

	# help: columns keep two spaces; "(repeatable)" once
	help_lines "$bin" >"$d/help"
	perl -ne 'if (/^[a-z]+: {3}([a-z][a-z0-9-]*)( *)(\S.*)?$/) { print if defined $3 && length($2) < 2 }
		elsif (/^[a-z]+ [a-z0-9-]+: +(-\S, )?--[a-z0-9-]+( [A-Z@][A-Z0-9_:=.@\[\]-]*)?( *)(\S.*)?$/) {
			print if defined $4 && length($3) < 2 }' "$d/help" >"$d/help.bad"
	ok $([ -s "$d/help" ] && [ ! -s "$d/help.bad" ]; echo $?) "$tag: help columns never run together"
	sed 's/^/# /' "$d/help.bad" | head -5
	ok $(! grep -q '(repeatable) (repeatable)' "$d/help"; echo $?) "$tag: \"(repeatable)\" is said once"
	grep '(repeatable) (repeatable)' "$d/help" | sed 's/^/# /' | head -3

	# a refusal comes before any progress line
	mkdir -p "$d/busy" && : >"$d/busy/x"
	run "$bin" host new --dir "$d/busy" --name FabricHost1 --domain fabrikam.com
	ok $([ $RC -ne 0 ] && ! grep -q "manufacturing" <<<"$ERR"; echo $?) \
		"$tag: host new on a non-empty folder refuses before any progress"
}

each_binary edges

# ---- up: the commands it prints work as printed (the release binary: fabrics are slow) ----
lab_procs() { pgrep -af "$1" | grep -v -e "^$$ " -e pgrep || true; }
trap 'for p in $(pgrep -f "$T" 2>/dev/null); do [ "$p" = "$$" ] || kill -KILL "$p" 2>/dev/null; done; rm -rf "$T"' EXIT
run "$HGSLAB" up -w "$T/up" "$ROOT/scenarios/hostkey-mode.yaml"
ok $([ $RC -eq 0 ] && grep -qx "  hgslab status --workdir $T/up" <<<"$OUT" &&
	grep -qx "  hgslab down --workdir $T/up" <<<"$OUT"; echo $?) "up -w DIR prints status and down with --workdir DIR"
upout=$OUT
hgspid=$(jq -r '.Hgs[0].Pid' "$T/up/lab.json")
kill -KILL "$hgspid" 2>/dev/null
run "$HGSLAB" status --workdir "$T/up" --json
ok $([ "$hgspid" -gt 0 ] 2>/dev/null && jq -e '[.[] | select(.Kind == "HGS")][0].State == "Stopped"' <<<"$OUT" >/dev/null; echo $?) \
	"status shows a killed HGS as Stopped at once (a zombie is not running)"
down=$(sed -n 's/^  \(hgslab down.*\)$/\1/p' <<<"$upout")
run ${down/hgslab/$HGSLAB}
sleep 0.3
ok $([ $RC -eq 0 ] && [ -z "$(lab_procs "$T/up")" ]; echo $?) "the printed down command stops that fabric"
run "$HGSLAB" up -w "$T/up2" --play "$ROOT/scenarios/kp-other-hgs.yaml"
ok $([ $RC -eq 0 ] && ! grep -q "tenant shield-vm" <<<"$OUT"; echo $?) "up --play does not suggest shielding a VM it shielded"
run "$HGSLAB" host start-vm --dir "$T/up2/hosts/FabricHost1" --name ContosoVM --json
ok $([ $RC -eq 4 ] && [ -n "$OUT" ] && jq -e '.Name == "ContosoVM" and .State == "Refused" and (.Reason | test("GuardianNotListed"))' <<<"$OUT" >/dev/null; echo $?) \
	"host start-vm --json prints the refusal as an object (exit 4)"
[ -n "$OUT" ] || echo "# start-vm --json printed nothing"
run "$HGSLAB" down -w "$T/up2"
ok $([ $RC -eq 0 ] && [ -z "$(lab_procs "$T/up2")" ]; echo $?) "down -w of the played fabric"
run "$HGSLAB" up -w "$T/up3" --json "$ROOT/scenarios/hostkey-mode.yaml"
ok $([ $RC -eq 0 ] && pascal_keys <<<"$OUT" && jq -e '.Scenario == "hostkey-mode" and (.Hgs[0].Pid > 0) and
	(.Hosts | length > 0) and all(.Hosts[]; .Name and .Dir and .Pid > 0)' <<<"$OUT" >/dev/null; echo $?) \
	"up --json: the lab's processes, PascalCase keys only"
run "$HGSLAB" status -w "$T/up3" --json
ok $([ $RC -eq 0 ] && pascal_keys <<<"$OUT" && jq -e 'any(.[]; .Kind == "Host")' <<<"$OUT" >/dev/null; echo $?) \
	"status --json: PascalCase keys only"
run "$HGSLAB" down -w "$T/up3"
ok $([ $RC -eq 0 ] && [ -z "$(lab_procs "$T/up3")" ]; echo $?) "down -w after up --json stops every process"

# ---- host run on a TPM in use: the error is printed once ----
"$HGSLAB" host new --dir "$T/h1" --name FabricHost1 --domain fabrikam.com --listen 127.0.0.77 >/dev/null 2>&1
"$HGSLAB" host run --dir "$T/h1" >"$T/h1.run" 2>&1 &
agent=$!
for _ in $(seq 100); do grep -q "is in use\|running\|ready" "$T/h1.run" 2>/dev/null && break; sleep 0.1; done
run timeout 30 "$HGSLAB" host run --dir "$T/h1"
ok $([ $RC -ne 0 ] && [ "$(grep -c "in use by pid" <<<"$ERR")" -eq 1 ]; echo $?) "host run on a busy TPM: the error once"
[ $RC -ne 0 ] || echo "# the second agent ran"
grep -c "in use by pid" <<<"$ERR" | sed 's/^/# times: /'
kill -TERM $agent 2>/dev/null; wait $agent 2>/dev/null
run "$HGSLAB" host test-client-configuration --dir "$T/h1"
ok $([ $RC -eq 4 ] && grep -q "Local mode" <<<"$ERR" && ! grep -q "booting its TPM" <<<"$ERR"; echo $?) \
	"test-client-configuration in Local mode refuses before any progress (exit 4)"

# ---- import-guardian: an HGS node's own metadata trusted by its certificates' thumbprints ----
"$HGSLAB" hgs init --dir "$T/gnode" --name MyHgsService --domain relecloud.com --listen 127.0.0.78:0 >/dev/null
"$HGSLAB" hgs serve --dir "$T/gnode" >"$T/gnode.out" 2>&1 &
serve=$!
for _ in $(seq 100); do grep -q "serving" "$T/gnode.out" 2>/dev/null && break; sleep 0.1; done
url=$(sed -n 's/.* on \(http:[^ ]*\).*/\1/p' "$T/gnode.out")
srv=$("$HGSLAB" hgs get-server --dir "$T/gnode" --json)
sig=$(jq -r .KeyProtectionSigningThumbprint <<<"$srv")
enc=$(jq -r .KeyProtectionEncryptionThumbprint <<<"$srv")
run "$HGSLAB" tenant import-guardian --dir "$T/ten" --url "$url" --trusted-thumbprint "$sig" \
	--trusted-thumbprint "${enc,,}"
ok $([ $RC -eq 0 ] && [ -e "$T/ten/guardians/MyHgsService" ]; echo $?) "import-guardian of an HGS node's metadata trusted by its thumbprints"
run "$HGSLAB" tenant import-guardian --dir "$T/ten2" --url "$url" --trusted-thumbprint "$sig"
ok $([ $RC -eq 4 ] && grep -q "encryption" <<<"$ERR" && [ ! -e "$T/ten2/guardians/MyHgsService" ]; echo $?) \
	"a certificate whose thumbprint is not given is refused (exit 4), nothing imported"
run "$HGSLAB" tenant import-guardian --dir "$T/ten2" --url "$url" --trusted-thumbprint nothex
ok $([ $RC -eq 2 ]; echo $?) "a malformed thumbprint is bad input (exit 2)"
kill -TERM $serve 2>/dev/null; wait $serve 2>/dev/null
done_testing
