#!/usr/bin/env bash
# faults.sh - the fault matrix (`hgslab faults`, docs/faults.md) end to end:
# the command line (help, bad component with a "did you mean", a bad step,
# the deterministic --sample listing); a SAMPLED subset of the matrix played
# for real (a component killed at a step, the checks, the restart, the rest
# of the scenario) passes, with its n/a cell reported and not counted; and
# the checks can fail: an orphan process, a leftover temporary file and a
# lost HGS registration, each planted right after the kill, make the cell
# fail (exit 6) naming what was found.  The whole matrix is not played here
# (about 20 minutes; docs/faults.md has its figures).
# The host's swtpm (which its agent now supervises) is played at the attest step.
# Needs `make guest` for the VM cells.
. "$(dirname "$0")/lib.sh"

ROOT=${HGSLAB_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
: "${HGSLAB_GUEST_DIR:=$ROOT/build/guest}"
export HGSLAB_GUEST_DIR
B=$HGSLAB
LIB="$ROOT/scenarios"

require swtpm swtpm_setup qemu-system-x86_64 jq
require_guest "$HGSLAB_GUEST_DIR"

cleanup() {
	local p
	for p in $(pgrep -f "$T" 2>/dev/null); do
		[ "$p" = "$$" ] || kill -KILL "$p" 2>/dev/null
	done
}
trap 'cleanup; rm -rf "$T"' EXIT

# ---- the command line ----
run "$B" faults --help
ok $([ $RC -eq 0 ] && grep -q -- '--sample N' <<<"$OUT" && grep -q -- '--component NAME' <<<"$OUT" &&
	grep -q 'n/a' <<<"$OUT"; echo $?) "faults --help explains the options, the checks and n/a"
run "$B" faults --component qemmu
ok $([ $RC -eq 2 ] && grep -q "did you mean 'qemu'" <<<"$ERR"; echo $?) "an unknown component: exit 2, with the nearest name"
run "$B" faults --step 0
ok $([ $RC -eq 2 ] && grep -q "invalid --step" <<<"$ERR"; echo $?) "a bad step number: exit 2"
run "$B" faults --list
ok $([ $RC -eq 0 ] && [ "$(wc -l <<<"$OUT")" -eq 67 ] && grep -qx 'ad-mode step 7 dc' <<<"$OUT" &&
	! grep -q 'ad-mode step 1 hgs' <<<"$OUT"; echo $?) \
	"the default matrix: 10 walkthrough steps x 6 components, and the DC at the 7 AD-mode steps (67 cells)"
COMPS=(--component hgs --component agent --component keeper --component qemu --component vtpm --component dc)
run "$B" faults --list --sample 4 "${COMPS[@]}"
first=$OUT
run "$B" faults --list --sample 4 "${COMPS[@]}"
ok $([ $RC -eq 0 ] && [ "$OUT" = "$first" ] && [ "$(wc -l <<<"$OUT")" -eq 4 ] &&
	[ "$(sed -n 1p <<<"$OUT")" = "article-walkthrough step 2 keeper" ] &&
	[ "$(sed -n 4p <<<"$OUT")" = "article-walkthrough step 10 vtpm" ]; echo $?) \
	"--sample 4 is the same spread subset every time"

# ---- a sampled subset, played ----
t0=$(date +%s)
run "$B" faults --sample 4 "${COMPS[@]}" --workdir "$T/m" --json
j=$OUT
ok $([ $RC -eq 0 ] && [ "$(jq .Played <<<"$j")" -eq 3 ] && [ "$(jq .Passed <<<"$j")" -eq 3 ] &&
	[ "$(jq .Failed <<<"$j")" -eq 0 ] && [ "$(jq .NotApplicable <<<"$j")" -eq 1 ]; echo $?) \
	"the sampled matrix passes: 3 cells played and passed, 1 n/a ($(( $(date +%s) - t0 )) s)"
[ $RC -eq 0 ] || { sed 's/^/# /' <<<"$ERR" | tail -20; }
ok $(jq -e '[paths | .[] | strings] | all(test("^[A-Z]"))' <<<"$j" >/dev/null; echo $?) \
	"--json keys are PascalCase, as every --json output's"
ok $(jq -e '[.Cells[] | select(.Status == "pass")] | all(.Killed != null and (.Killed | test("pid [0-9]+")))' \
	<<<"$j" >/dev/null; echo $?) "each passed cell says what was killed, and when"
ok $(jq -e '.Cells[] | select(.Component == "keeper" and .Step == 2) | .Status == "n/a" and .Killed == null' \
	<<<"$j" >/dev/null; echo $?) "no VM keeper runs at step 2 (register): n/a, nothing killed"
ok $(jq -e '.Cells[] | select(.Component == "vtpm" and .Step == 10) | .Killed | test("swtpm .* into `hgslab host stop-vm`")' \
	<<<"$j" >/dev/null; echo $?) "the vTPM's swtpm is killed while stop-vm runs"
ok $([ -z "$(ls -A "$T/m")" ]; echo $?) "the labs of passed cells are removed"
ok $([ -z "$(pgrep -f "$T/m")" ]; echo $?) "no process of the matrix is left"
run "$B" faults --step 3 --component dc --workdir "$T/h"
ok $([ $RC -eq 0 ] && grep -q '^   3 attest FabricHost1 .* pass' <<<"$OUT" &&
	grep -q '1 cell played: 1 passed, 0 failed' <<<"$OUT" && grep -q 'kill dc' <<<"$ERR"; echo $?) \
	"the human table: the DC killed at AD-mode step 3 passes; progress on stderr"

run "$B" faults --scenario "$ROOT/scenarios/article-walkthrough.yaml" --step 3 --component host-swtpm \
	--workdir "$T/s" --json
ok $([ $RC -eq 0 ] && jq -e '.Played == 1 and .Passed == 1' <<<"$OUT" >/dev/null; echo $?) \
	"the host's swtpm killed at step 3 (attest): its agent restarts it, the cell passes"
[ $RC -eq 0 ] || { sed 's/^/# /' <<<"$ERR" | tail -20; }

# ---- the checks can fail ----
AD=(--scenario "$LIB/ad-mode.yaml" --step 3 --component dc)
run "$B" faults "${AD[@]}" --plant orphan --workdir "$T/p1" --json
msg=$(jq -r '.Cells[0].Message' <<<"$OUT")
pid=$(sed -n 's/.*orphan after the kill: sleep (pid \([0-9]*\).*/\1/p' <<<"$msg")
# gone: no such process, or a zombie its new parent has not reaped yet
gone() { local s; s=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null); [ -z "$s" ] || [ "$s" = Z ]; }
for _ in $(seq 50); do [ -n "$pid" ] && gone "$pid" && break; sleep 0.1; done
ok $([ $RC -eq 6 ] && [ -n "$pid" ] && gone "$pid"; echo $?) \
	"a planted orphan process fails the cell (exit 6), named, and is then killed"
[ -n "$pid" ] || echo "# rc $RC, message: $msg"
run "$B" faults "${AD[@]}" --plant leftover --workdir "$T/p2" --json
msg=$(jq -r '.Cells[0].Message' <<<"$OUT")
ok $([ $RC -eq 6 ] && grep -q 'left in the lab: kp/.planted.kp.tmp.[A-Za-z0-9]* (a temporary file left behind)' <<<"$msg" &&
	[ -d "$(jq -r '.Cells[0].Lab' <<<"$OUT")" ]; echo $?) \
	"a planted temporary file fails the cell, named; the failed cell's lab is kept"
run "$B" faults "${AD[@]}" --plant lost --workdir "$T/p3" --json
msg=$(jq -r '.Cells[0].Message' <<<"$OUT")
ok $([ $RC -eq 6 ] && grep -q '1 entry of `hgs MyHgsService get-host-group` lost' <<<"$msg"; echo $?) \
	"a registration removed after the kill fails the cell: the lost entry is named"
ok $([ -z "$(pgrep -f "$T/p")" ]; echo $?) "no process of the failed cells is left"

done_testing
