#!/usr/bin/env bash
# run.sh - run the libFuzzer targets of build/fuzz/ (`make fuzz`, `make
# fuzz-smoke`, tests/cli/fuzz.sh), one after the other.
#
# Each target runs for SECONDS from its seeds (tests/fuzz/corpus/TARGET/,
# read only) and its working corpus (build/fuzz/corpus/TARGET/, where new
# inputs go and which later runs start from), with the -max_len of its
# format (max_len below) and its dictionary tests/fuzz/dict/TARGET.dict when
# there is one.  Per target one line:
#   fuzz_tcglog: 67989 runs in 21 s (3237 exec/s), corpus 412 files: ok
# A crash, leak, timeout (an input over 10 s) or out-of-memory (2 GiB) is a
# failure: the line names the reproducer libFuzzer saved in
# build/fuzz/artifacts/TARGET/ and the command that replays it, and the end
# of the sanitizer's report follows.  Exit status 1 when a target failed.
# The whole output of each run is kept in build/fuzz/logs/TARGET.log.
#
# Usage: tests/fuzz/run.sh [-t SECONDS] [TARGET...]   (TARGET: tcglog or fuzz_tcglog;
#        default every target built from tests/fuzz/fuzz_*.c; SECONDS default 60)
set -u
cd "$(dirname "$0")/../.."
build=build/fuzz
seconds=60
if [ "${1:-}" = "-t" ]; then
	seconds=${2:?"-t needs a number of seconds"}
	shift 2
fi

# max_len TARGET: the largest input worth trying for the target's format, bytes.
max_len() {
	case $1 in
	names | hostkey | fsk_generalized | viq | platform_id | ad_trust | bundle) echo 8192 ;;
	tcglog | wbcl | kp | pdk | vsc | hgs_routes | scenario | guardian) echo 65536 ;;
	*) echo 16384 ;;
	esac
}

targets=()
if [ $# -gt 0 ]; then
	for t in "$@"; do targets+=("${t#fuzz_}"); done
else
	for src in tests/fuzz/fuzz_*.c; do
		t=$(basename "$src" .c)
		targets+=("${t#fuzz_}")
	done
fi

export ASAN_OPTIONS="${ASAN_OPTIONS:-abort_on_error=0:detect_leaks=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
command -v llvm-symbolizer >/dev/null || [ ! -x /usr/lib/llvm-14/bin/llvm-symbolizer ] ||
	export ASAN_SYMBOLIZER_PATH=/usr/lib/llvm-14/bin/llvm-symbolizer

failed=0
for t in "${targets[@]}"; do
	bin="$build/fuzz_$t"
	if [ ! -x "$bin" ]; then
		echo "fuzz_$t: FAILED: $bin is not built (make fuzz-build)"
		failed=1
		continue
	fi
	work="$build/corpus/$t"
	art="$build/artifacts/$t"
	log="$build/logs/$t.log"
	mkdir -p "$work" "$art" "$(dirname "$log")"
	args=(-max_total_time="$seconds" -max_len="$(max_len "$t")" -timeout=10 -rss_limit_mb=2048
	      -print_final_stats=1 -artifact_prefix="$art/")
	[ -f "tests/fuzz/dict/$t.dict" ] && args+=(-dict="tests/fuzz/dict/$t.dict")
	dirs=("$work")
	[ -d "tests/fuzz/corpus/$t" ] && dirs+=("tests/fuzz/corpus/$t")
	before=$(date +%s)
	"$bin" "${args[@]}" "${dirs[@]}" >"$log" 2>&1
	rc=$?
	took=$(($(date +%s) - before))
	runs=$(sed -nE 's/^stat::number_of_executed_units: *([0-9]+).*/\1/p' "$log" | tail -n1)
	runs=${runs:-0}
	[ "$took" -gt 0 ] || took=1
	files=$(find "$work" -type f | wc -l)
	summary="$runs runs in $took s ($((runs / took)) exec/s), corpus $files files"
	if [ "$rc" -eq 0 ]; then
		echo "fuzz_$t: $summary: ok"
		continue
	fi
	failed=1
	repro=$(sed -nE 's/.*Test unit written to (.*)$/\1/p' "$log" | tail -n1)
	kind=$(grep -oE 'ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer): [a-z-]+|runtime error|ERROR: UndefinedBehaviorSanitizer' "$log" |
		head -n1)
	echo "fuzz_$t: $summary: FAILED (${kind:-exit status $rc})"
	if [ -n "$repro" ]; then
		echo "  reproducer: $repro"
		echo "  replay it:  $bin $repro"
	fi
	echo "  log: $log"
	grep -E '^fuzz:|ERROR|SUMMARY|runtime error|^    #[0-9]' "$log" | head -n 25 | sed 's/^/  | /'
done
exit "$failed"
