#!/usr/bin/env bash
# report_html.sh - `hgslab run --report html`: the article walkthrough's report
# (--out FILE) is one self-contained page under 1 MB that headless Chromium
# shows with every step and the sequence diagram of every exchange, the
# refused start on the debug host marked failed (tests/browser/report.js);
# a small scenario whose description is hostile markup, written to stdout by
# each build (release and ASan), is a page where that markup is only text.
# Needs `make guest` for the walkthrough's VM.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lab.sh"

: "${HGSLAB_GUEST_DIR:=$ROOT/build/guest}"
export HGSLAB_GUEST_DIR
LIB="$ROOT/scenarios"
NASTY='</script><img src=x onerror="window.hgslabOwned=true"><!--<script> & ✓'

require swtpm swtpm_setup qemu-system-x86_64 jq
require_guest "$HGSLAB_GUEST_DIR"

# a run that failed half-way may leave its lab's processes: stop them by pid
trap 'for p in $(lab_pids); do kill -KILL "$p" 2>/dev/null; done; cleanup; rm -rf "$T"' EXIT

# ---- the article walkthrough, --out FILE ----
F="$T/article-walkthrough.html"
run "$HGSLAB" run "$LIB/article-walkthrough.yaml" --report html --out "$F" --workdir "$T/walk"
ok $([ $RC -eq 0 ] && [ -s "$F" ] && grep -q '10 of 10 steps passed' <<<"$OUT"; echo $?) \
	"run --report html --out FILE: the walkthrough passes, its human lines on stdout, the page in FILE"
[ $RC -eq 0 ] || { echo "$OUT$ERR" | tail -20 | sed 's/^/# /'; }
size=$(stat -c %s "$F" 2>/dev/null || echo 0)
ok $([ "$size" -gt 0 ] && [ "$size" -lt 1048576 ]; echo $?) "the walkthrough's report weighs under 1 MB ($size bytes)"
ok $(head -c 15 "$F" | grep -q '^<!DOCTYPE html>' && ! grep -Eq '<(link|img|iframe)|<script [^>]*src=' "$F"; echo $?) \
	"the page is HTML and loads no external asset"
steps=$("$HGSLAB" run --check "$LIB/article-walkthrough.yaml" | sed -n 's/.*, \([0-9]*\) steps).*/\1/p')
ok $([ "${steps:-0}" -eq 10 ]; echo $?) "run --check counts the walkthrough's steps ($steps)"
browser report.js "$F" "$steps"

# ---- a hostile string, stdout, both builds ----
sed -e 's/^name: tampered-debug/name: report-html-nasty/' \
	-e "s|^description: .*|description: '${NASTY//&/\\&}'|" "$LIB/tampered-debug.yaml" >"$T/nasty.yaml"
for bin in "$HGSLAB" ${HGSLAB_ASAN:+"$HGSLAB_ASAN"}; do
	built "$bin" || continue
	b=$(basename "$(dirname "$(dirname "$bin")")")
	[ "$bin" = "$HGSLAB" ] && b=release
	run "$bin" run "$T/nasty.yaml" --report html --workdir "$T/nasty-$b"
	printf '%s\n' "$OUT" >"$T/nasty-$b.html"
	ok $([ $RC -eq 0 ] && head -c 15 "$T/nasty-$b.html" | grep -q '^<!DOCTYPE html>' &&
		grep -q 'steps passed' <<<"$ERR" && ! grep -q '<img' "$T/nasty-$b.html"; echo $?) \
		"$b: run --report html without --out writes the page on stdout (human lines on stderr)"
	[ $RC -eq 0 ] || { echo "$ERR" | tail -20 | sed 's/^/# /'; }
	browser report.js "$T/nasty-$b.html" "" "$NASTY"
done
done_testing
