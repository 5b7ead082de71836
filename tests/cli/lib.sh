# lib.sh - a tiny TAP helper for the black-box tests in tests/cli/.
#
# Source it, call `plan N` (or `done_testing` at the end), then `check DESC CMD...`
# (passes when CMD exits 0) and `ok COND DESC`.  Each test file runs in its
# own trash directory ($T), removed on exit; $HGSLAB is the binary under test.
set -u
: "${HGSLAB:=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/bin/hgslab}"
T=$(mktemp -d "${TMPDIR:-/tmp}/hgslab-cli.XXXXXX")
trap 'rm -rf "$T"' EXIT
_n=0

plan() { echo "1..$1"; }

# ok STATUS DESC: STATUS 0 is a pass.
ok() {
	_n=$((_n + 1))
	if [ "$1" -eq 0 ]; then echo "ok $_n - $2"; else echo "not ok $_n - $2"; fi
}

# check DESC CMD...: run CMD, pass when it exits 0; show its output on failure.
check() {
	local desc=$1; shift
	local outf="$T/.check.out"
	if "$@" >"$outf" 2>&1; then ok 0 "$desc"; else ok 1 "$desc"; sed 's/^/# /' "$outf"; fi
}

# run CMD...: run and keep stdout in $OUT, stderr in $ERR, status in $RC.
run() {
	"$@" >"$T/.out" 2>"$T/.err" </dev/null
	RC=$?
	OUT=$(cat "$T/.out")
	ERR=$(cat "$T/.err")
}

done_testing() { echo "1..$_n"; }
