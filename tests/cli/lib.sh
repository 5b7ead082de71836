# lib.sh - a tiny TAP helper for the black-box tests in tests/cli/.
#
# Source it, call `plan N` (or `done_testing` at the end), then `check DESC CMD...`
# (passes when CMD exits 0) and `ok COND DESC`.  Each test file runs in its
# own trash directory ($T), removed on exit; $HGSLAB is the binary under test.
# A test that cannot run fails: `require TOOL...` bails out when a program is
# missing and `built BIN` is a failed case for a binary that is named but not
# built; nothing here prints a SKIP.  tests/cli/lab.sh adds background
# processes and the lab bring-up the end-to-end tests share.  tests/run.sh
# runs every tests/cli/*.sh except these two helper files.
set -u
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)   # the repository
: "${HGSLAB:=$ROOT/bin/hgslab}"
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

# jq: as the real one, except that `jq -e` on standard input fails when that input is empty
# (jq 1.6 exits 0 when it read nothing at all, so a check of a command that printed nothing
# would pass).  With a file argument (the last one names a file) it is the real jq.
jq() {
	local arg input last=${!#}
	for arg in "$@"; do
		[ "$arg" = "-e" ] || continue
		if [ $# -gt 1 ] && [ -f "$last" ]; then break; fi
		input=$(cat)
		if [ -z "${input//[[:space:]]/}" ]; then
			echo "# jq -e: no input to check" >&2
			return 1
		fi
		command jq "$@" <<<"$input"
		return
	done
	command jq "$@"
}

# pascal_keys [FILE]: every key of the JSON on standard input (or in FILE), nested and in
# arrays too, starts with a capital; the keys that do not are printed on stderr as comments.
# Fails on empty input or input that is not JSON.
pascal_keys() {
	local input
	input=$(cat "${1:-/dev/stdin}")
	[ -n "${input//[[:space:]]/}" ] || { echo "# pascal_keys: no JSON to check" >&2; return 1; }
	command jq -e '[.. | objects | keys[]] | all(test("^[A-Z]"))' <<<"$input" >/dev/null && return 0
	command jq -c '[.. | objects | keys[] | select(test("^[A-Z]") | not)] | unique' <<<"$input" 2>&1 |
		sed 's/^/# not PascalCase: /' >&2
	return 1
}

# flip FILE OFFSET: flip the low bit of byte OFFSET of FILE in place (a change whatever the byte was).
flip() {
	local b
	b=$(dd if="$1" bs=1 skip="$2" count=1 2>/dev/null | xxd -p)
	printf '%02x' $((0x$b ^ 1)) | xxd -r -p | dd of="$1" bs=1 seek="$2" conv=notrunc 2>/dev/null
}

# require TOOL...: every TOOL is on PATH; else "Bail out!" and exit 1 (a failure, never a skip).
require() {
	local tool
	for tool in "$@"; do
		command -v "$tool" >/dev/null || { echo "Bail out! $tool is not installed (make deps)"; exit 1; }
	done
}

# require_guest DIR: the shielded VM's guest (`make guest`) is in DIR; else "Bail out!" and exit 1.
require_guest() {
	[ -f "$1/vmlinuz" ] && [ -f "$1/initramfs.cpio" ] && return 0
	echo "Bail out! no guest in $1: run 'make guest' first (make test does)"
	exit 1
}

# built BIN: true when BIN is built; else a failed case naming it.  For the loop
# `for bin in "$HGSLAB" ${HGSLAB_ASAN:+"$HGSLAB_ASAN"}; do built "$bin" || continue; ...`:
# a binary the runner names ($HGSLAB_ASAN is set by tests/run.sh) must exist.
built() {
	[ -x "$1" ] && return 0
	ok 1 "binary '$1' is built"
	return 1
}

# each_binary FN: run `FN BIN` for $HGSLAB, then for $HGSLAB_ASAN when it is set (the loop above).
each_binary() {
	local bin
	for bin in "$HGSLAB" ${HGSLAB_ASAN:+"$HGSLAB_ASAN"}; do
		built "$bin" || continue
		"$1" "$bin"
	done
}

# browser SCRIPT ARGS...: run the browser test tests/browser/SCRIPT (node, puppeteer-core,
# Debian's chromium; tests/browser/lib.js) and turn each of its "PASS text" / "FAIL text"
# lines into a TAP case; its "#" lines are passed on.  A script that could not run (no
# node_modules: make deps) or ended without a line is one failure, never a skip.
browser() {
	local script=$1 line any=0
	shift
	if [ ! -d "$ROOT/tests/browser/node_modules/puppeteer-core" ] || ! command -v node >/dev/null ||
		[ ! -x "${CHROMIUM:-/usr/bin/chromium}" ]; then
		ok 1 "browser test $script: puppeteer-core, node and chromium are installed (make deps)"
		return 1
	fi
	while IFS= read -r line; do
		case $line in
		"PASS "*) ok 0 "${line#PASS }"; any=1 ;;
		"FAIL "*) ok 1 "${line#FAIL }"; any=1 ;;
		*) echo "# ${line#\# }" ;;
		esac
	done < <(timeout 300 node "$ROOT/tests/browser/$script" "$@" 2>&1)
	[ "$any" = 1 ] || ok 1 "browser test $script printed no check"
}
