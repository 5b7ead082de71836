#!/usr/bin/env bash
# attacks_host.sh - the host family of the attack library (sim/attack_host*.c,
# docs/attacks.md "Host"): every attack of the docs' host table is in the
# library (`hgslab attack show`) with its documented refusal, has its
# scenario scenarios/attacks/NAME.yaml, and `hgslab run` of all those
# scenarios passes (each attack refused with its documented status, nothing
# of the tenant's in a lab file afterwards) and leaves no process or lab
# behind.  Negative cases: an expectation the fabric does not meet (an
# attack expected to succeed, a reason it does not give) fails the run
# (exit 6) naming the step; an attack whose VM is not running cannot be
# played and says so.  A few scenarios also run with $HGSLAB_ASAN.
# Needs `make guest` for the VM scenarios.
. "$(dirname "$0")/lib.sh"

ROOT=${HGSLAB_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
: "${HGSLAB_GUEST_DIR:=$ROOT/build/guest}"
export HGSLAB_GUEST_DIR
B=$HGSLAB
LIB="$ROOT/scenarios/attacks"

require swtpm swtpm_setup qemu-system-x86_64 jq
require_guest "$HGSLAB_GUEST_DIR"
built "$B" || { done_testing; exit 1; }

cleanup() {
	local p
	for p in $(pgrep -f "$T" 2>/dev/null); do
		[ "$p" = "$$" ] || kill -KILL "$p" 2>/dev/null
	done
}
trap 'cleanup; rm -rf "$T"' EXIT

# ---- the library: the docs' host table, `attack show`, one scenario each ----
mapfile -t NAMES < <(sed -n '/^## Host/,/host attacks above this line/p' "$ROOT/docs/attacks.md" |
	sed -n 's/^| `\([a-z0-9-]*\)` |.*/\1/p')
ok $([ "${#NAMES[@]}" -ge 22 ]; echo $?) "the docs' host table lists ${#NAMES[@]} attacks (at least 22)"
bad=""
files=()
for n in "${NAMES[@]}"; do
	doc=$(sed -n '/^## Host/,/host attacks above this line/p' "$ROOT/docs/attacks.md" |
		grep "^| \`$n\` |" | awk -F'|' '{ gsub(/^ +| +$/, "", $4); print $4 }')
	lib=$("$B" attack show "$n" --json 2>/dev/null | jq -r '.Refusal // empty')
	f="$LIB/$n.yaml"
	if [ -z "$lib" ] || [ "$lib" != "$doc" ] || [ ! -f "$f" ] || ! grep -q "kind: $n[,} ]" "$f"; then
		bad="$bad $n(lib='$lib' doc='$doc')"
	fi
	files+=("$f")
done
ok $([ -z "$bad" ]; echo $?) "each is in the library with the refusal the docs give, and has its scenario playing it"
[ -z "$bad" ] || echo "# mismatched:$bad"
run "$B" run --check "${files[@]}"
ok $([ $RC -eq 0 ] && [ "$(grep -c ': valid (' <<<"$OUT")" -eq "${#files[@]}" ]; echo $?) \
	"run --check: the ${#files[@]} host attack scenarios are valid"

# ---- every scenario passes ----
t0=$(date +%s)
run "$B" run --workdir "$T/all" --report json --out "$T/all.json" "${files[@]}"
secs=$(($(date +%s) - t0))
n_pass=$(jq '.Passed' "$T/all.json" 2>/dev/null)
ok $([ $RC -eq 0 ] && [ "$n_pass" = "${#files[@]}" ]; echo $?) \
	"hgslab run: all ${#files[@]} host attack scenarios pass (${secs} s)"
[ $RC -eq 0 ] || jq -r '.Scenarios[] | select(.Passed | not) | "# \(.Name): \(.Error // "") \(
	[.Steps[] | select(.Passed | not) | "step \(.Index) \(.Title): \(.Message)"] | join("; "))"' \
	"$T/all.json" 2>/dev/null
# each attack step was refused with the status the library documents (its reason starts with it)
badst=$(jq -r '.Scenarios[].Steps[] | select(.Kind == "attack") | "\(.Title)\t\(.Got)\t\(.Reason)"' \
	"$T/all.json" 2>/dev/null | while IFS=$'\t' read -r title got reason; do
		n=$(awk '{ print $2 }' <<<"$title")
		st=$("$B" attack show "$n" --json | jq -r '.Refusal')
		[ "$got" = refused ] && [ "${reason#"$st"}" != "$reason" ] || echo "$title"
	done)
ok $([ -z "$badst" ] && [ "$(jq '[.Scenarios[].Steps[] | select(.Kind == "attack")] | length' "$T/all.json")" -ge 24 ]
	echo $?) "every attack step is refused with its documented status"
[ -z "$badst" ] || echo "# not as documented: $badst"
ok $([ -z "$(pgrep -f "$T/all")" ] && [ ! -e "$T/all/attack-policy-downgrade" ]; echo $?) \
	"no process of the labs is left, and the passed labs are removed"

# ---- negative cases: the runner fails what the fabric does not do ----
mkdir -p "$T/neg"
sed -e 's/^name: attack-down-pid-reuse/name: neg-expect-succeeded/' \
	-e 's/kind: down-pid-reuse, reason: "signalled none"/kind: down-pid-reuse, expect: succeeded/' \
	"$LIB/down-pid-reuse.yaml" >"$T/neg/succeeded.yaml"
# negmsg FILE: the failed steps' messages of the JSON report FILE
negmsg() { jq -r '.Scenarios[].Steps[] | select(.Passed | not) | .Message' "$1" 2>/dev/null; }
run "$B" run --workdir "$T/neg-lab" --report json --out "$T/neg1.json" "$T/neg/succeeded.yaml"
ok $([ $RC -eq 6 ] && grep -q "expected succeeded, got refused" <(negmsg "$T/neg1.json"); echo $?) \
	"an attack expected to succeed, which the fabric refuses: the run fails (exit 6) naming the step"
sed -e 's/^name: attack-pidfile-squat/name: neg-reason/' \
	-e "s/reason: \"holds hgs.pid's lock\"/reason: \"no such words\"/" \
	"$LIB/pidfile-squat.yaml" >"$T/neg/reason.yaml"
run "$B" run --workdir "$T/neg-lab2" --report json --out "$T/neg2.json" "$T/neg/reason.yaml"
ok $([ $RC -eq 6 ] && grep -q "the reason does not hold 'no such words'" <(negmsg "$T/neg2.json"); echo $?) \
	"a reason the refusal does not give: the run fails (exit 6)"
sed -e 's/^name: attack-tk-in-keeper-memory/name: neg-not-running/' -e '/- start:/d' -e '/- stop:/d' \
	"$LIB/tk-in-keeper-memory.yaml" >"$T/neg/not-running.yaml"
run "$B" run --workdir "$T/neg-lab3" --report json --out "$T/neg3.json" "$T/neg/not-running.yaml"
ok $([ $RC -eq 6 ] && grep -q "needs VM vm1 running" <(negmsg "$T/neg3.json"); echo $?) \
	"an attack whose VM does not run cannot be played: the step fails saying so"
ok $([ -z "$(pgrep -f "$T/neg-lab")" ]; echo $?) "no process of the negative labs is left"

# ---- the ASan build plays a few (no report from the sanitizers: they pass) ----
if [ -n "${HGSLAB_ASAN:-}" ] && built "$HGSLAB_ASAN"; then
	run "$HGSLAB_ASAN" run --workdir "$T/asan" "$LIB/bundle-fifo.yaml" "$LIB/pidfile-squat.yaml" \
		"$LIB/down-pid-reuse.yaml"
	ok $([ $RC -eq 0 ] && ! grep -q "ERROR: AddressSanitizer\|runtime error:" <<<"$OUT$ERR"; echo $?) \
		"asan: bundle-fifo, pidfile-squat and down-pid-reuse pass"
fi
done_testing
