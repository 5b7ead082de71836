#!/usr/bin/env bash
# cli.sh - the command surface: help at every level (the areas and verbs are
# walked from the binary's own --help output: every area and every verb must
# answer --help with exit 0 and its usage line, and every area the README
# documents must be listed), usage errors exit 2, status and demo fail clearly
# without a fabric or a scenario, version and diagnose work.
# Runs against the release binary and, when $HGSLAB_ASAN names it, the ASan+UBSan one
# (named but not built: a failure).
. "$(dirname "$0")/lib.sh"

# The areas README "The command line" documents, and those of them that have verbs.
documented="hgs host fabric tenant vmm run demo up down status diagnose bench version"
verb_areas="hgs host fabric tenant vmm bench"

# help_list TEXT SECTION: the names listed under "SECTION:" (Areas, Verbs) in a --help TEXT.
help_list() { sed -n "/^$2:\$/,/^\$/s/^  \([a-z][a-z0-9-]*\)\( .*\)\{0,1\}\$/\1/p" <<<"$1"; }

for bin in "$HGSLAB" ${HGSLAB_ASAN:+"$HGSLAB_ASAN"}; do
	built "$bin" || continue
	tag=$(basename "$(dirname "$(dirname "$bin")")")/$(basename "$bin")

	run "$bin" --help
	ok $RC "$tag: --help exits 0"
	areas=$(help_list "$OUT" Areas)
	missing=""
	for a in $documented; do
		grep -qx "$a" <<<"$areas" || missing="$missing $a"
	done
	ok $([ -z "$missing" ]; echo $?) "$tag: --help lists every documented area (missing:${missing:- none})"

	run "$bin" nosuch
	ok $([ $RC -eq 2 ]; echo $?) "$tag: unknown area exits 2 (got $RC)"
	ok $(grep -q "unknown area 'nosuch'" <<<"$ERR" && grep -q '^usage: hgslab' <<<"$ERR"; echo $?) \
		"$tag: unknown area prints the problem and usage"

	run "$bin"
	ok $([ $RC -eq 2 ] && grep -q '^usage:' <<<"$ERR"; echo $?) "$tag: no arguments prints usage, exits 2"

	bad=0
	for a in $(printf '%s\n' $areas $documented | sort -u); do
		run "$bin" "$a" --help
		if [ $RC -ne 0 ] || ! grep -q '^usage: hgslab '"$a" <<<"$OUT"; then bad=1; echo "# $a --help: rc=$RC"; fi
	done
	ok $([ -n "$areas" ] && [ $bad -eq 0 ]; echo $?) \
		"$tag: AREA --help works for every area, listed or documented ($(wc -w <<<"$areas") listed)"

	# every verb of every area, as the area's own --help lists them
	for a in $areas; do
		run "$bin" "$a" --help
		verbs=$(help_list "$OUT" Verbs)
		if [ -z "$verbs" ]; then
			[[ " $verb_areas " == *" $a "* ]] && ok 1 "$tag: $a --help lists its verbs"
			continue
		fi
		bad=""
		for v in $verbs; do
			run "$bin" "$a" "$v" --help
			if [ $RC -ne 0 ] || ! grep -q "^usage: hgslab $a $v\( \|\$\)" <<<"$OUT"; then
				bad="$bad $v"
				echo "# $a $v --help: rc=$RC: $(head -n1 <<<"$ERR$OUT")"
			fi
		done
		ok $([ -z "$bad" ]; echo $?) \
			"$tag: every verb of $a answers --help with exit 0 and its usage ($(wc -w <<<"$verbs") verbs; failing:${bad:- none})"
	done

	run "$bin" hgs nosuch
	ok $([ $RC -eq 2 ] && grep -q "unknown verb 'nosuch'" <<<"$ERR"; echo $?) "$tag: unknown verb exits 2"
	run "$bin" hgs
	ok $([ $RC -eq 2 ] && grep -q '^Verbs:' <<<"$ERR"; echo $?) "$tag: area without verb lists verbs, exits 2"
	run "$bin" status --help
	ok $([ $RC -eq 0 ] && grep -q -- '--workdir DIR' <<<"$OUT"; echo $?) "$tag: status --help shows its options"
	run "$bin" status --workdir "$T/none"
	ok $([ $RC -eq 1 ] && grep -q 'no fabric is up' <<<"$ERR" && grep -q 'hgslab up' <<<"$ERR"; echo $?) \
		"$tag: status with no fabric up exits 1 and says how to start one"

	run "$bin" version --bogus
	ok $([ $RC -eq 2 ] && grep -q "unknown option '--bogus'" <<<"$ERR" && grep -q '^usage: hgslab version' <<<"$ERR"; echo $?) \
		"$tag: unknown option exits 2 with usage"
	run "$bin" version extra
	ok $([ $RC -eq 2 ]; echo $?) "$tag: unexpected argument exits 2"
	run "$bin" version
	ok $([ $RC -eq 0 ] && grep -qE '^hgslab [0-9]+\.[0-9]+\.[0-9]+$' <<<"$OUT"; echo $?) "$tag: version prints the version"
	run "$bin" version --json
	ok $([ $RC -eq 0 ] && grep -q '"Hgslab": "' <<<"$OUT" && grep -q '"OpenSsl"' <<<"$OUT"; echo $?) "$tag: version --json"
	run "$bin" --version
	ok $([ $RC -eq 0 ]; echo $?) "$tag: --version"

	run "$bin" diagnose --json
	ok $([ $RC -eq 0 ] && grep -q '"Failed": 0' <<<"$OUT" && grep -q '"Name": "tpm"' <<<"$OUT"; echo $?) \
		"$tag: diagnose --json passes every check, the live swtpm one included"
	ok $(! pgrep -f 'hgslab-diag-' >/dev/null; echo $?) "$tag: diagnose leaves no swtpm running"
	ok $(! ls -d /tmp/hgslab-diag-* >/dev/null 2>&1; echo $?) "$tag: diagnose leaves no temporary directory"
	run env PATH=/nonexistent "$bin" diagnose
	ok $([ $RC -eq 5 ] && grep -q "install package 'swtpm' or run \`make deps\`" <<<"$OUT" &&
	     grep -q "cannot run 'swtpm'" <<<"$OUT"; echo $?) "$tag: a missing program fails diagnose (exit 5) and says what to install"
	run "$bin" demo --help
	ok $([ $RC -eq 0 ] && grep -q 'article-walkthrough.yaml' <<<"$OUT" && grep -q -- '--report FORMAT' <<<"$OUT"; echo $?) \
		"$tag: demo --help names the scenario it plays"
	run env HGSLAB_SCENARIOS="$T/none" "$bin" demo
	ok $([ $RC -eq 1 ] && grep -q "cannot find the demo scenario" <<<"$ERR"; echo $?) \
		"$tag: demo without its scenario file exits 1 and says where it looked"
done
done_testing
