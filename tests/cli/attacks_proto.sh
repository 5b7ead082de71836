#!/usr/bin/env bash
# attacks_proto.sh - the protocol family of the attack library (sim/attack_proto.c,
# docs/attacks.md "Protocol") end to end: every attack of docs/attacks.md's protocol
# table is in `hgslab attack list` and has its scenario in scenarios/attacks/, and
# every one of those scenarios passes against a real fabric (HGS, swtpm TPMs, the
# fabric's DC, host agents), each refusal with its documented status and nothing of
# the tenant's in any lab file.  Then it proves the attacks can fail: an attack
# expected to succeed, a reason the refusal does not hold, a sub-status it does not
# name are each a failed step (exit 6) saying why.  With $HGSLAB_ASAN (tests/run.sh
# sets it) a few of the scenarios are played by the ASan+UBSan binary too.  No VM
# boots: these attacks need none.
. "$(dirname "$0")/lib.sh"

ROOT=${HGSLAB_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
B=$HGSLAB
LIB="$ROOT/scenarios/attacks"
DOC="$ROOT/docs/attacks.md"

require swtpm swtpm_setup jq

cleanup() {
	local p
	for p in $(pgrep -f "$T" 2>/dev/null); do
		[ "$p" = "$$" ] || kill -KILL "$p" 2>/dev/null
	done
}
trap 'cleanup; rm -rf "$T"' EXIT

# ---- the library: docs, `attack list`, scenarios agree ----
names=$(sed -n '/^## Protocol/,/protocol attacks above this line/p' "$DOC" |
	sed -n 's/^| `\([a-z0-9-]*\)` |.*/\1/p')
n=$(wc -w <<<"$names")
run "$B" attack list --json
LIST=$OUT
missing=""
for a in $names; do
	jq -e --arg a "$a" 'any(.[]; .Name == $a and (.Refusal | length > 0) and (.Concept | length > 0))' \
		<<<"$LIST" >/dev/null || missing="$missing $a(list)"
	[ -f "$LIB/$a.yaml" ] || missing="$missing $a(scenario)"
	status=$(jq -r --arg a "$a" '.[] | select(.Name == $a) | .Refusal' <<<"$LIST")
	grep -q "^| \`$a\` | .* | $status" "$DOC" || missing="$missing $a(status)"
done
ok $([ "$n" -ge 22 ] && [ -z "$missing" ]; echo $?) \
	"docs/attacks.md's protocol table: $n attacks, each in 'attack list' with its status and a scenario"
[ -z "$missing" ] || echo "# missing:$missing"
files=$(for a in $names; do echo "$LIB/$a.yaml"; done)
run "$B" run --check $files
ok $([ $RC -eq 0 ] && [ "$(grep -c ': valid (' <<<"$OUT")" -eq "$n" ]; echo $?) "every protocol attack scenario is valid"

# ---- every scenario passes ----
t0=$(date +%s)
"$B" run --workdir "$T/lib" --report json --out "$T/lib.json" $files >"$T/lib.human" 2>"$T/lib.err"
rc=$?
secs=$(($(date +%s) - t0))
n_pass=$(jq '[.Scenarios[] | select(.Passed)] | length' "$T/lib.json" 2>/dev/null)
ok $([ $rc -eq 0 ] && [ "$n_pass" = "$n" ]; echo $?) "every protocol attack scenario passes ($n_pass of $n, ${secs} s)"
if [ $rc -ne 0 ]; then
	grep -E "✗|FAIL|line [0-9]+:" "$T/lib.human" | head -n 30 | sed 's/^/# /'
	tail -n 5 "$T/lib.err" | sed 's/^/# /'
fi
# each attack step: refused with the library's documented status, the concept said
bad=""
for a in $names; do
	status=$(jq -r --arg a "$a" '.[] | select(.Name == $a) | .Refusal' <<<"$LIST")
	jq -e --arg n "attack-$a" --arg s "$status" '.Scenarios[] | select(.Name == $n) |
		any(.Steps[]; .Kind == "attack" and .Passed and .Got == "refused" and
		    (.Reason | startswith($s + ":")) and (.Concept | length > 0))' "$T/lib.json" >/dev/null ||
		bad="$bad $a"
done
ok $([ -z "$bad" ]; echo $?) "each attack was refused with its documented status${bad:+ (not:$bad)}"
jq -r '.Scenarios[] | .Steps[] | select(.Kind == "attack") | "# \(.Title): \(.Reason[0:110])"' \
	"$T/lib.json" 2>/dev/null
ok $([ -z "$(pgrep -f "$T/lib" | grep -v "^$$\$")" ] && [ -z "$(ls -A "$T/lib" 2>/dev/null)" ]; echo $?) \
	"after the attacks: no process left, every lab removed"

# ---- the attacks can fail ----
cat >"$T/fail.yaml" <<'EOF'
version: 1
name: attacks-can-fail
description: expectations an attack does not meet
hgs: { name: MyHgsService, domain: relecloud.com, nodes: 1, trust: tpm }
hosts:
  - { name: FabricHost1, profile: baseline }
  - { name: FabricHost2, profile: "baseline,debug=on" }
steps:
  - register: { host: FabricHost1 }
  - attest: { host: FabricHost1, expect: Passed }
  - attack: { kind: nonce-replay, host: FabricHost1, expect: succeeded }
  - attack: { kind: quote-replay, host: FabricHost1, reason: "no such words" }
  - attack: { kind: tcglog-truncate, host: FabricHost1, substatus: [DebugMode] }
  - attack: { kind: tcglog-relabel, host: FabricHost1 }
  - attack: { kind: deep-json }
EOF
run "$B" run --workdir "$T/fail-lab" --report json --out "$T/fail.json" "$T/fail.yaml"
ok $([ $RC -eq 6 ] && jq -e '.Scenarios[0].Steps[2] | (.Passed | not) and .Got == "refused" and
	(.Message | test("expected succeeded, got refused"))' "$T/fail.json" >/dev/null; echo $?) \
	"an attack expected to succeed that HGS refuses: exit 6, expected succeeded, got refused"
ok $(jq -e '.Scenarios[0].Steps[3] | (.Passed | not) and (.Message | test("does not hold .no such words."))' \
	"$T/fail.json" >/dev/null; echo $?) "a reason the refusal does not hold: the step fails, naming it"
ok $(jq -e '.Scenarios[0].Steps[4] | (.Passed | not) and (.Message | test("does not name DebugMode"))' \
	"$T/fail.json" >/dev/null; echo $?) "a sub-status the refusal does not name: the step fails, naming it"
ok $(jq -e '.Scenarios[0].Steps[5] | (.Passed | not) and .Got == "error" and
	(.Message | test("nothing to hide"))' "$T/fail.json" >/dev/null; echo $?) \
	"an attack that cannot be played (relabelling a healthy boot hides nothing) fails the step"
ok $(jq -e '.Scenarios[0].Steps[6].Passed' "$T/fail.json" >/dev/null; echo $?) \
	"the fabric still serves after the failed steps"
jq -r '.Scenarios[0].Steps[] | select(.Passed | not) | "# \(.Message[0:150])"' "$T/fail.json" 2>/dev/null
ok $([ -z "$(pgrep -f "$T/fail-lab" | grep -v "^$$\$")" ]; echo $?) "after the failed scenario: no process left"

# ---- the ASan+UBSan binary plays a few ----
if [ -n "${HGSLAB_ASAN:-}" ] && built "$HGSLAB_ASAN"; then
	run "$HGSLAB_ASAN" run --workdir "$T/asan" "$LIB/nonce-replay.yaml" "$LIB/health-cert-stolen.yaml" \
		"$LIB/kp-guardian-added.yaml" "$LIB/hostile-xml.yaml" "$LIB/deep-json.yaml"
	ok $([ $RC -eq 0 ] && ! grep -qE "ERROR: AddressSanitizer|runtime error:" <<<"$ERR$OUT"; echo $?) \
		"the ASan+UBSan binary plays five of them, with no report"
	[ $RC -eq 0 ] || grep -E "✗|line [0-9]+:|Sanitizer|runtime error" <<<"$OUT$ERR" | head -n 20 | sed 's/^/# /'
fi

done_testing
