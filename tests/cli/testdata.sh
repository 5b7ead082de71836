#!/usr/bin/env bash
# testdata.sh - the project carries its own test data and its tests find it
# from the repository root, whatever the working directory: the real
# firmware logs in tests/data/tcglogs are the ones tpm2-tools ships (their
# SHA256SUMS); nothing in the repository points at the shared fixtures folder
# beside it (the pattern below is spelled with a bracket so that this file
# does not match itself); the unit tests that read the logs (test_tcglog,
# test_policy) pass when run from a directory outside the repository, on
# both builds; HGSLAB_FIXTURES still replaces tests/data; and a test program
# copied out of a repository fails naming what it looked for (no path of the
# build machine is compiled in).
. "$(dirname "$0")/lib.sh"

require sha256sum tpm2_eventlog
data="$ROOT/tests/data/tcglogs"

# ---- the data ----
run sh -c "cd '$data' && sha256sum -c SHA256SUMS"
ok $([ $RC -eq 0 ] && [ "$(grep -c ': OK$' <<<"$OUT")" -eq 7 ] &&
	[ "$(ls "$data"/*.bin | wc -l)" -eq 7 ]; echo $?) \
	"tests/data/tcglogs: the seven tpm2-tools logs, byte for byte (SHA256SUMS)"
[ $RC -eq 0 ] || sed 's/^/# /' <<<"$OUT$ERR"
ok $(for f in "$data"/*.bin; do grep -qF "$(basename "$f")" "$data/README.md" || exit 1; done; echo $?) \
	"tests/data/tcglogs/README.md gives every log's origin"
shared=$(cd "$ROOT" && grep -rnIE --exclude-dir=.git --exclude-dir=build --exclude-dir=bin \
	--exclude-dir=out -e '\.\./shar[e]d' . 2>/dev/null)
ok $([ -z "$shared" ]; echo $?) "nothing in the repository points at the fixtures folder outside it"
[ -z "$shared" ] || sed 's/^/# /' <<<"$shared"

# ---- the unit tests find it from the repository root ----
mkdir -p "$T/elsewhere" "$T/empty/tcglogs"
for build in release asan; do
	for t in test_tcglog test_policy; do
		bin="$ROOT/build/$build/tests/$t"
		if [ ! -x "$bin" ]; then
			ok 1 "$build/$t is built"
			continue
		fi
		(cd "$T/elsewhere" && CMOCKA_MESSAGE_OUTPUT=TAP HGSLAB_FIXTURES= "$bin") >"$T/$t.out" 2>&1
		rc=$?
		ok $([ $rc -eq 0 ] && grep -q '^ok ' "$T/$t.out" && ! grep -q '^not ok' "$T/$t.out"; echo $?) \
			"$build/$t run from a directory outside the repository finds tests/data and passes"
		[ $rc -eq 0 ] || grep -E '^not ok|^#|ERROR' "$T/$t.out" | head -n 10 | sed 's/^/# /'
	done
done

bin="$ROOT/build/release/tests/test_tcglog"
if built "$bin"; then
	(cd / && CMOCKA_MESSAGE_OUTPUT=TAP HGSLAB_FIXTURES="$T/empty" "$bin") >"$T/override.out" 2>&1
	ok $(grep -q '^not ok' "$T/override.out" && grep -q "$T/empty/tcglogs/" "$T/override.out"; echo $?) \
		"HGSLAB_FIXTURES replaces tests/data: an empty one makes the fixture tests fail, naming the path"
	mkdir -p "$T/copy/build/release/tests"
	cp "$bin" "$T/copy/build/release/tests/"
	(cd "$ROOT" && CMOCKA_MESSAGE_OUTPUT=TAP HGSLAB_FIXTURES= "$T/copy/build/release/tests/test_tcglog") \
		>"$T/copy.out" 2>&1
	ok $([ $? -ne 0 ] && grep -q "no test data folder '$T/copy/tests/data'" "$T/copy.out"; echo $?) \
		"a test program outside a repository fails, naming the tests/data it looked for (nothing compiled in)"
fi
done_testing
