#!/usr/bin/env bash
# bench-fabric.sh - `hgslab bench fabric` from the outside, kept small: help and
# usage errors; a first run of 8 hosts on an empty TPM state cache in a temporary
# directory fills it (8 states made) and a second run uses it ("warm", none made);
# both JSON reports are sane (every host Passed at the first attestation and in
# the storm, every phase timed, memory figures positive, PascalCase keys); a small
# run of the ASan binary when the runner names one; Ctrl-C during the bring-up
# exits 130 and leaves no process and no lab directory; a run waits while another
# holds the cache's lock; a cache whose vendor CA does not match its FORMAT is
# rebuilt, a state that lacks a file is made again; Ctrl-C during the cache fill
# exits 130 and leaves only complete states in the cache.  Speed is not asserted
# (the figures are the benchmark's to report).
. "$(dirname "$0")/lib.sh"

BG_PID=""
# Stop a background bench, if one is still running (used by the trap too).
stop_bg() {
	if [ -n "$BG_PID" ]; then
		kill -TERM "$BG_PID" 2>/dev/null
		wait "$BG_PID" 2>/dev/null
		BG_PID=""
	fi
}
trap 'stop_bg; rm -rf "$T"' EXIT

# clean DIR DESC: no process mentions DIR and DIR is empty.
clean() {
	ok $(! pgrep -f "$1" >/dev/null && [ -z "$(ls -A "$1" 2>/dev/null)" ]; echo $?) "$2"
}

# wait_line FILE TEXT: wait (up to 120 s) until FILE has a line with TEXT.
wait_line() {
	local i
	for i in $(seq 1200); do
		grep -q "$2" "$1" 2>/dev/null && return 0
		kill -0 "$BG_PID" 2>/dev/null || return 1
		sleep 0.1
	done
	return 1
}

# complete_states DIR: every state directory of cache DIR has its five files.
complete_states() {
	local d f
	for d in "$1"/states/*/; do
		[ -d "$d" ] || continue
		for f in tpm2-00.permall ek.pub ek-cert.der ak.key tk.key; do
			[ -s "$d/$f" ] || return 1
		done
	done
}

bin=$HGSLAB
[ -x "$bin" ] || { echo "Bail out! '$bin' is not built"; exit 1; }
require jq swtpm swtpm_setup

# ---- help and usage ----
run "$bin" bench --help
ok $([ $RC -eq 0 ] && grep -qE '^  fabric ' <<<"$OUT"; echo $?) "bench --help lists fabric"
run "$bin" bench fabric --help
ok $([ $RC -eq 0 ] && grep -q -- '--hosts N' <<<"$OUT" && grep -q -- '--workers W' <<<"$OUT" &&
	grep -q -- '--cache DIR' <<<"$OUT"; echo $?) "bench fabric --help shows the options"
run "$bin" bench fabric --hosts 0
ok $([ $RC -eq 2 ] && grep -q -- '--hosts must be 1 to 2000' <<<"$ERR"; echo $?) "--hosts 0 exits 2"
run "$bin" bench fabric --hosts 2001
ok $([ $RC -eq 2 ]; echo $?) "--hosts 2001 exits 2"
run "$bin" bench fabric --workers 0
ok $([ $RC -eq 2 ] && grep -q -- '--workers must be 1 to 256' <<<"$ERR"; echo $?) "--workers 0 exits 2"

cache="$T/cache"
w="$T/work"

# ---- first run: the cache is filled ----
run "$bin" bench fabric --hosts 8 --workers 4 --cache "$cache" --workdir "$w" --json
ok $RC "first run of 8 hosts exits 0"
[ $RC -eq 0 ] || sed 's/^/# /' <<<"$ERR" | tail -n 20
ok $(jq -e '.Benchmark == "fabric" and .Ok and .Hosts == 8 and .Workers == 4 and
	.Cache.Status == "cold" and .Cache.StatesBefore == 0 and .Cache.StatesMade == 8 and
	.Cache.Cached == ["VendorCa", "EkAndEkCertificate", "AkAndTk"]' <<<"$OUT" >/dev/null; echo $?) \
	"the first run fills the empty cache (8 states made)"
# sane: jq -e passes only when every condition holds
sane() {
	jq -e '.FirstAttestation.Passed == 8 and .Storm.Passed == 8 and
		(.PhaseSeconds | keys | length) == 8 and all(.PhaseSeconds[]; type == "number" and . >= 0) and
		(.BenchCpuSeconds | keys | length) == 8 and .BenchCpuSeconds.FirstAttestation > 0 and
		.ColdToAllPassedSeconds > 0 and .Storm.AttestationsPerSecond > 0 and
		.Storm.LatencyMilliseconds.P50 > 0 and .Storm.LatencyMilliseconds.P50 <= .Storm.LatencyMilliseconds.P99 and
		.Memory.Processes == 10 and .Memory.PssMegabytes > 0 and .Memory.RssMegabytes >= .Memory.PssMegabytes and
		.Memory.SwtpmPssMegabytes > 0 and .Memory.HgsPssMegabytes > 0 and .Memory.BenchPssMegabytes > 0 and
		(.Goals | has("ColdMet") and has("MemoryMet"))' <<<"$OUT" >/dev/null
}
ok $(sane; echo $?) "JSON: all 8 Passed twice, every phase timed, memory figures positive"
ok $(pascal_keys <<<"$OUT"; echo $?) "bench fabric --json has PascalCase keys only"
ok $(grep -q 'TPM state cache: 0 states ready, 8 needed: cold' <<<"$ERR" &&
	grep -q 'TPM state cache: 8 of 8 states made' <<<"$ERR"; echo $?) "progress on stderr shows the fill"
ok $([ "$(ls "$cache/states" | wc -l)" = 8 ] && complete_states "$cache" &&
	[ -f "$cache/FORMAT" ] && [ -f "$cache/vendor/vendor-ca-cert.pem" ]; echo $?) \
	"the cache holds the vendor CA and 8 complete states"
clean "$w" "first run: nothing left running or on disk"

# ---- second run: the cache is used ----
run "$bin" bench fabric --hosts 8 --workers 4 --cache "$cache" --workdir "$w" --json
ok $RC "second run exits 0"
ok $(jq -e '.Ok and .Cache.Status == "warm" and .Cache.StatesBefore == 8 and .Cache.StatesMade == 0 and
	.Cache.Rebuilt == false' <<<"$OUT" >/dev/null &&
	grep -q 'TPM state cache: 8 states ready, 8 needed: warm' <<<"$ERR"; echo $?) \
	"the second run uses the cache (warm, none made) and says so"
ok $(sane; echo $?) "second run's JSON is sane"
clean "$w" "second run: nothing left running or on disk"

# ---- the ASan+UBSan binary (when the runner names it): a small warm run ----
if [ -n "${HGSLAB_ASAN:-}" ] && built "$HGSLAB_ASAN"; then
	run "$HGSLAB_ASAN" bench fabric --hosts 2 --workers 2 --cache "$cache" --workdir "$w" --json
	ok $([ $RC -eq 0 ] && jq -e '.Ok and .Storm.Passed == 2' <<<"$OUT" >/dev/null; echo $?) \
		"asan: bench fabric --hosts 2 exits 0, both hosts Passed"
	[ $RC -eq 0 ] || sed 's/^/# /' <<<"$ERR" | tail -n 20
	clean "$w" "asan: nothing left running or on disk"
fi

# ---- human report ----
run "$bin" bench fabric --hosts 2 --cache "$cache" --workdir "$w"
ok $([ $RC -eq 0 ] && grep -q 'from cold to all Passed' <<<"$OUT" && grep -q 'peak memory, PSS' <<<"$OUT" &&
	grep -q 'storm: HGS CPU per attestation' <<<"$OUT"; echo $?) "the human report has the figures"

# ---- Ctrl-C during the bring-up: 130, nothing left ----
# (one worker for 8 hosts makes the bring-up last; should it end before the signal, the
# run exits 0: the point here is what is left)
env --default-signal=INT "$bin" bench fabric --hosts 8 --workers 1 --cache "$cache" --workdir "$w" \
	>"$T/int.out" 2>"$T/int.err" &
BG_PID=$!
wait_line "$T/int.err" 'starting 8 swtpm processes' && kill -INT "$BG_PID"
wait "$BG_PID"; RC=$?; BG_PID=""
ok $([ $RC -eq 130 ] || [ $RC -eq 0 ]; echo $?) "Ctrl-C during the bring-up exits 130 (got $RC)"
ok $(! pgrep -f "$T" >/dev/null; echo $?) "after Ctrl-C in the bring-up: no swtpm or hgs serve left"
clean "$w" "after Ctrl-C in the bring-up: no lab directory"

# ---- a concurrent run waits for the cache's lock ----
require flock
flock "$cache/.lock" sleep 60 &
LOCK_PID=$!
"$bin" bench fabric --hosts 2 --cache "$cache" --workdir "$w" --json >"$T/lock.out" 2>"$T/lock.err" &
BG_PID=$!
wait_line "$T/lock.err" 'another run uses it'; waited=$?
ok $([ $waited -eq 0 ] && kill -0 "$BG_PID" 2>/dev/null && ! grep -q 'copying' "$T/lock.err"; echo $?) \
	"a run waits while another holds the cache's lock"
kill "$LOCK_PID"; wait "$LOCK_PID" 2>/dev/null
wait "$BG_PID"; RC=$?; BG_PID=""
ok $([ $RC -eq 0 ] && jq -e '.Ok' "$T/lock.out" >/dev/null; echo $?) "it goes on once the lock is free (got $RC)"

# ---- a cache whose vendor CA does not match is rebuilt ----
sed -i 's/^vendor-ca .*/vendor-ca 0000000000000000000000000000000000000000000000000000000000000000/' \
	"$cache/FORMAT"
run "$bin" bench fabric --hosts 1 --cache "$cache" --workdir "$w" --json
ok $([ $RC -eq 0 ] && grep -q 'does not match: its TPM vendor CA is not the one' <<<"$ERR" &&
	jq -e '.Ok and .Cache.Rebuilt and .Cache.StatesBefore == 0 and .Cache.StatesMade == 1' <<<"$OUT" >/dev/null;
	echo $?) "a mismatched cache is rebuilt, with a message"
ok $([ "$(ls "$cache/states" | wc -l)" = 1 ]; echo $?) "the rebuilt cache holds the new state only"

# ---- a state that lacks a file is made again ----
rm -f "$cache/states/00000/ak.key"
run "$bin" bench fabric --hosts 1 --cache "$cache" --workdir "$w" --json
ok $([ $RC -eq 0 ] && grep -q 'state 0 is incomplete' <<<"$ERR" &&
	jq -e '.Ok and .Cache.StatesBefore == 0 and .Cache.StatesMade == 1' <<<"$OUT" >/dev/null; echo $?) \
	"an incomplete state is made again"

# ---- Ctrl-C during the fill: 130, only complete states kept ----
env --default-signal=INT "$bin" bench fabric --hosts 5 --cache "$cache" --workdir "$w" \
	>"$T/int.out" 2>"$T/int.err" &
BG_PID=$!
wait_line "$T/int.err" 'making 4 states' && sleep 0.5 && kill -INT "$BG_PID"
wait "$BG_PID"; RC=$?; BG_PID=""
ok $([ $RC -eq 130 ] && grep -q 'interrupted' "$T/int.err"; echo $?) "Ctrl-C during the fill exits 130 (got $RC)"
ok $(! pgrep -f "$T" >/dev/null && complete_states "$cache"; echo $?) \
	"after Ctrl-C in the fill: no swtpm or swtpm_setup left, only complete states in the cache"
clean "$w" "after Ctrl-C in the fill: no lab directory"

done_testing
