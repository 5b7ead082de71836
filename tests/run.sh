#!/usr/bin/env bash
# run.sh - the whole test suite (`make test` calls it after both builds).
#
# Every test program speaks TAP: the cmocka unit tests (CMOCKA_MESSAGE_OUTPUT=TAP)
# of the release build and of the ASan+UBSan build, and the black-box scripts
# in tests/cli/ (run against bin/hgslab, then the ASan binary where they opt in).
# A program that crashes, exits non-zero without a failed case, or runs fewer
# cases than its plan counts as a failure, and so does a unit test of
# tests/unit/ that is not built (nothing is skipped).  Output of each program
# is kept in tests/out/; the last line is "N passed, N failed".
#
# Usage: tests/run.sh [-k KEYWORD]   (run only programs whose name contains KEYWORD)
set -u
cd "$(dirname "$0")/.."
root=$(pwd)
keyword=""
[ "${1:-}" = "-k" ] && keyword="${2:-}"

out="$root/tests/out"
rm -rf "$out"
mkdir -p "$out"
passed=0
failed=0
failures=()

# Run one TAP program; count its cases.  $1 = label, rest = command.
run_tap() {
	local label=$1; shift
	local log="$out/${label//\//_}.log" rc okc notok plan
	[ -n "$keyword" ] && [[ "$label" != *"$keyword"* ]] && return 0
	printf '%-48s ' "$label"
	CMOCKA_MESSAGE_OUTPUT=TAP timeout 900 "$@" >"$log" 2>&1 </dev/null
	rc=$?
	okc=$(grep -cE '^ok [0-9]+' "$log")
	notok=$(grep -cE '^not ok [0-9]+' "$log")
	plan=$(sed -nE 's/^1\.\.([0-9]+).*/\1/p' "$log" | head -n1)
	passed=$((passed + okc))
	failed=$((failed + notok))
	if [ "$rc" -ne 0 ] && [ "$notok" -eq 0 ]; then
		failed=$((failed + 1)); notok=1
		echo "exit status $rc with no failed case reported (crash or timeout?)" >>"$log"
	elif [ -n "$plan" ] && [ $((okc + notok)) -lt "$plan" ]; then
		failed=$((failed + 1)); notok=$((notok + 1))
		echo "planned $plan cases, ran $((okc + notok))" >>"$log"
	elif [ -z "$plan" ] && [ $((okc + notok)) -eq 0 ]; then
		failed=$((failed + 1)); notok=1
		echo "no TAP output: the program ran no test" >>"$log"
	fi
	if [ "$notok" -eq 0 ]; then
		echo "ok ($okc)"
	else
		echo "FAILED ($notok of $((okc + notok)))"
		failures+=("$label")
		grep -E '^not ok|^#' "$log" | head -n 40 | sed 's/^/    /'
		tail -n 15 "$log" | sed 's/^/    | /'
	fi
}

# missing LABEL WHY: a program that should run but cannot: one failure.
missing() {
	[ -n "$keyword" ] && [[ "$1" != *"$keyword"* ]] && return 0
	printf '%-48s FAILED (%s)\n' "$1" "$2"
	failed=$((failed + 1))
	failures+=("$1")
}

for build in release asan; do
	for src in tests/unit/test_*.c; do
		t="build/$build/tests/$(basename "$src" .c)"
		if [ -x "$t" ]; then
			run_tap "unit/$build/$(basename "$t")" "$t"
		else
			missing "unit/$build/$(basename "$t")" "$t is not built: make && make asan"
		fi
	done
done

export HGSLAB="$root/bin/hgslab"
export HGSLAB_ASAN="$root/build/asan/bin/hgslab"
export HGSLAB_ROOT="$root"
for t in tests/cli/*.sh; do
	[ -f "$t" ] || continue
	case $(basename "$t") in lib.sh | lab.sh) continue ;; esac   # helpers the tests source
	run_tap "cli/$(basename "$t" .sh)" bash "$t"
done

echo
if [ ${#failures[@]} -gt 0 ]; then
	echo "failed programs (logs in tests/out/): ${failures[*]}"
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
