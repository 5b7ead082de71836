#!/usr/bin/env bash
# fuzz.sh - the fuzzing smoke pass of `make test`: every libFuzzer target of
# tests/fuzz/ (built by `make fuzz-build` into build/fuzz/) runs for
# FUZZ_SMOKE_SECONDS (default 5) from its seeds and its grown corpus, through
# tests/fuzz/run.sh.  A target that is not built, crashes, leaks, times out
# or runs out of memory is a failed case; its output names the reproducer
# and the command that replays it.  `make fuzz` is the long run.
. "$(dirname "$0")/lib.sh"

seconds=${FUZZ_SMOKE_SECONDS:-5}
for src in "$ROOT"/tests/fuzz/fuzz_*.c; do
	t=$(basename "$src" .c)
	built "$ROOT/build/fuzz/$t" || continue
	if "$ROOT/tests/fuzz/run.sh" -t "$seconds" "$t" >"$T/run.out" 2>&1; then
		ok 0 "$(head -n1 "$T/run.out")"
	else
		ok 1 "$t: crash, leak, timeout or out of memory"
		sed 's/^/# /' "$T/run.out"
	fi
done
done_testing
