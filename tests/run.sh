#!/usr/bin/env bash
# run.sh - the whole test suite (`make test` calls it after both builds).
#
# Every test program speaks TAP: the cmocka unit tests (CMOCKA_MESSAGE_OUTPUT=TAP)
# of the release build and of the ASan+UBSan build (the store tests also on
# PostgreSQL: unit/BUILD-pg/...), and the black-box scripts
# in tests/cli/ (run against bin/hgslab, then the ASan binary where they opt in).
# A program that crashes, exits non-zero without a failed case, or runs fewer
# cases than its plan counts as a failure, and so does a unit test of
# tests/unit/ that is not built (nothing is skipped).  Output of each program
# is kept in tests/out/; each program's line ends with its wall time (a program
# is stopped after 900 s); the last line is "N passed, N failed".
#
# Programs run HGSLAB_TEST_JOBS at a time (default 2, the machine's cores): the
# longest (VM boots, whole fabrics) are started first, the short ones fill the
# gaps.  Each test works in its own temporary folder on its own loopback
# addresses, so they do not meet.  HGSLAB_TEST_JOBS=1 runs them one by one.
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

# Run one TAP program; count its cases into $out/LABEL.res ("OK NOTOK").  $1 = label, rest = command.
run_tap() {
	local label=$1; shift
	local log="$out/${label//\//_}.log" rc okc notok plan line t0=$SECONDS
	CMOCKA_MESSAGE_OUTPUT=TAP timeout 900 "$@" >"$log" 2>&1 </dev/null
	rc=$?
	t0=$((SECONDS - t0))
	okc=$(grep -cE '^ok [0-9]+' "$log")
	notok=$(grep -cE '^not ok [0-9]+' "$log")
	plan=$(sed -nE 's/^1\.\.([0-9]+).*/\1/p' "$log" | head -n1)
	if [ "$rc" -ne 0 ] && [ "$notok" -eq 0 ]; then
		notok=1
		echo "exit status $rc with no failed case reported (crash or timeout?)" >>"$log"
	elif [ -n "$plan" ] && [ $((okc + notok)) -lt "$plan" ]; then
		notok=$((notok + 1))
		echo "planned $plan cases, ran $((okc + notok - 1))" >>"$log"
	elif [ -z "$plan" ] && [ $((okc + notok)) -eq 0 ]; then
		notok=1
		echo "no TAP output: the program ran no test" >>"$log"
	fi
	echo "$okc $notok" >"$out/${label//\//_}.res"
	if [ "$notok" -eq 0 ]; then
		line=$(printf '%-48s ok (%s) %s s' "$label" "$okc" "$t0")
	else
		line=$(printf '%-48s FAILED (%s of %s) %s s' "$label" "$notok" "$((okc + notok))" "$t0")
	fi
	echo "$line"
}

# missing LABEL WHY: a program that should run but cannot: one failure.
missing() {
	[ -n "$keyword" ] && [[ "$1" != *"$keyword"* ]] && return 0
	printf '%-48s FAILED (%s)\n' "$1" "$2"
	failed=$((failed + 1))
	failures+=("$1")
}

labels=()
cmds=()
# queue LABEL CMD...: add a program to run (when it matches -k).
queue() {
	[ -n "$keyword" ] && [[ "$1" != *"$keyword"* ]] && return 0
	labels+=("$1")
	shift
	cmds+=("$(printf '%q ' "$@")")
}

export HGSLAB="$root/bin/hgslab"
export HGSLAB_ASAN="$root/build/asan/bin/hgslab"
export HGSLAB_ROOT="$root"
# the longest first (whole fabrics, VM boots), then the rest of tests/cli, then the unit tests
heavy="attacks_host scenarios attacks_proto scenarios_cluster cluster faults install shielded_vm provision edges vmm
       kps_e2e attest_e2e bench availability exitcodes"
for h in $heavy; do
	[ -f "tests/cli/$h.sh" ] && queue "cli/$h" bash "tests/cli/$h.sh"
done
for t in tests/cli/*.sh; do
	[ -f "$t" ] || continue
	name=$(basename "$t" .sh)
	case $name in lib | lab) continue ;; esac   # helpers the tests source
	[[ " $(echo $heavy) " == *" $name "* ]] && continue
	queue "cli/$name" bash "$t"
done
for build in release asan; do
	for src in tests/unit/test_*.c; do
		t="build/$build/tests/$(basename "$src" .c)"
		if [ -x "$t" ]; then
			queue "unit/$build/$(basename "$t")" "$t"
		else
			missing "unit/$build/$(basename "$t")" "$t is not built: make && make asan"
		fi
	done
done

# The PostgreSQL variant of the programs that test the store and the HGS on it
# (tests/unit/teststore.h): the same program with HGSLAB_TEST_STORE=postgresql starts a
# throw-away server of its own (lib/pgserver), gives each test a fresh database and puts its
# HGS node there (DIR/store); labelled unit/BUILD-pg/NAME.
pg_tests="test_store test_db_cache test_kps test_attest_tpm test_kps_client test_healthcert test_backup"
for build in release asan; do
	for name in $pg_tests; do
		t="build/$build/tests/$name"
		if [ -x "$t" ]; then
			queue "unit/$build-pg/$name" env HGSLAB_TEST_STORE=postgresql "$t"
		else
			missing "unit/$build-pg/$name" "$t is not built: make && make asan"
		fi
	done
done

jobs=${HGSLAB_TEST_JOBS:-2}
for i in "${!labels[@]}"; do
	while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do
		wait -n
	done
	eval "run_tap \"\${labels[$i]}\" ${cmds[$i]}" &
done
wait

# the counts and the failures' details, in queue order
for label in "${labels[@]}"; do
	res="$out/${label//\//_}.res"
	log="$out/${label//\//_}.log"
	read -r okc notok <"$res" 2>/dev/null || { okc=0; notok=1; }
	passed=$((passed + okc))
	failed=$((failed + notok))
	if [ "$notok" -ne 0 ]; then
		failures+=("$label")
		echo
		echo "$label:"
		grep -E '^not ok|^#' "$log" | head -n 40 | sed 's/^/    /'
		tail -n 15 "$log" | sed 's/^/    | /'
	fi
	rm -f "$res"
done

echo
if [ ${#failures[@]} -gt 0 ]; then
	echo "failed programs (logs in tests/out/): ${failures[*]}"
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
