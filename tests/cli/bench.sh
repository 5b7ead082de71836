#!/usr/bin/env bash
# bench.sh - `hgslab bench` from the outside, kept short: help and usage
# errors; a smoke run of `bench attest --hosts 2 --seconds 2 --json` whose
# JSON must be sane (attestations passed, none refused, positive rates,
# p50 <= p99, a three-operation crypto floor, a ratio); `--nodes 2`, a
# 1-node and a 2-node run side by side where both nodes decide; a run whose HGS is
# killed during the measured window must fail (exit 1, "Ok": false), and a
# Ctrl-C must exit 130, also in `bench all --json`, which still prints the
# part it ran; one pair of `bench provision --runs 1 --json` (a plain boot,
# a template + .pdk to a running VM: needs `make guest`) whose JSON has
# every part timed, a positive ratio and the goal 2.5, and one of `bench
# boot --runs 1 --json` (a plain and a shielded boot); every JSON report has
# PascalCase keys only, nested ones too; every run must leave no process and
# no lab directory behind.  Speed is not asserted here: the figures are the benchmark's to
# report (project rule), this only checks that it measures.
# Runs against $HGSLAB (the smoke run also against $HGSLAB_ASAN when set; named
# but not built: a failure).
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

# num NAME: the first numeric member NAME in $OUT (the pretty JSON, one member a line).
num() { sed -n 's/^ *"'"$1"'": \(-\{0,1\}[0-9.eE+-]*\),\{0,1\}$/\1/p' <<<"$OUT" | head -n1; }

# pascal: every key of the JSON in $OUT, nested and in arrays too, starts with a capital
# (the ones that do not go to the log).
pascal() { pascal_keys <<<"$OUT"; }

# gt A B: A > B as numbers.
gt() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a + 0 > b + 0) }'; }

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

bin=$HGSLAB
[ -x "$bin" ] || { echo "Bail out! '$bin' is not built"; exit 1; }
require jq

# ---- help and usage ----
run "$bin" bench --help
ok $([ $RC -eq 0 ] && grep -qE '^  attest ' <<<"$OUT" && grep -qE '^  all ' <<<"$OUT"; echo $?) \
	"bench --help lists attest and all"
run "$bin" bench attest --help
ok $([ $RC -eq 0 ] && grep -q -- '--hosts N' <<<"$OUT" && grep -q -- '--seconds S' <<<"$OUT" &&
	grep -q 'goal (2x)' <<<"$OUT"; echo $?) "bench attest --help shows the options and the goal"
run "$bin" bench all --help
ok $([ $RC -eq 0 ] && grep -q 'missing a goal is reported, not a failure exit' <<<"$OUT"; echo $?) \
	"bench all --help says a missed goal is not a failure exit"
run "$bin" bench attest --hosts 0
ok $([ $RC -eq 2 ] && grep -q -- '--hosts must be 1 to 32' <<<"$ERR"; echo $?) "bench attest --hosts 0 exits 2"
run "$bin" bench attest --seconds 0
ok $([ $RC -eq 2 ] && grep -q -- '--seconds must be' <<<"$ERR"; echo $?) "bench attest --seconds 0 exits 2"

# ---- smoke: a short run with sane JSON ----
for b in "$HGSLAB" ${HGSLAB_ASAN:+"$HGSLAB_ASAN"}; do
	built "$b" || continue
	tag=$(basename "$(dirname "$(dirname "$b")")")
	w="$T/work-$tag"
	run "$b" bench attest --hosts 2 --seconds 2 --json --workdir "$w"
	ok $RC "$tag: bench attest --hosts 2 --seconds 2 exits 0"
	[ $RC -eq 0 ] || sed 's/^/# /' <<<"$ERR" | tail -n 20
	passed=$(num Passed); p50=$(num P50); p99=$(num P99)
	ok $(grep -q '"Benchmark": "attest"' <<<"$OUT" && grep -q '"Ok": true' <<<"$OUT" &&
		[ "$(num Hosts)" = 2 ] && [ "$(num Seconds)" = 2 ]; echo $?) "$tag: JSON names the run"
	ok $([ -n "$passed" ] && gt "$passed" 0 && [ "$(num Refused)" = 0 ] && [ "$(num Errors)" = 0 ]; echo $?) \
		"$tag: attestations passed ($passed), none refused or failed"
	ok $(gt "$(num AttestationsPerSecond)" 0 && gt "$p50" 0 && ! gt "$p50" "$p99"; echo $?) \
		"$tag: attestations/s > 0 and 0 < p50 ($p50 ms) <= p99 ($p99 ms)"
	ok $(gt "$(num HgsCpuMillisecondsPerAttestation)" 0 && gt "$(num MillisecondsPerAttestation)" 0 &&
		gt "$(num Ratio)" 0; echo $?) "$tag: HGS CPU per attestation, crypto floor and ratio ($(num Ratio)x) are positive"
	ok $(grep -q '"Name": "verify_quote"' <<<"$OUT" && grep -q '"Name": "verify_certify"' <<<"$OUT" &&
		grep -q '"Name": "sign_health_certificate"' <<<"$OUT" && grep -q '"Key": "rsa-2048"' <<<"$OUT" &&
		grep -qE '"GoalMet": (true|false)' <<<"$OUT" && [ "$(num GoalRatio)" = 2.0 ]; echo $?) \
		"$tag: the floor has its three signature operations; the goal is 2x"
	ok $(pascal; echo $?) "$tag: bench attest --json has PascalCase keys only"
	ok $(grep -q 'hgslab bench: measuring: 2 hosts attesting for 2 s' <<<"$ERR"; echo $?) \
		"$tag: progress goes to stderr"
	clean "$w" "$tag: nothing left running or on disk"
done

# ---- a cluster: --nodes 2 measured beside 1 node in the same run ----
w="$T/work-nodes"
run "$bin" bench attest --hosts 2 --seconds 2 --nodes 2 --json --keep --workdir "$w"
ok $RC "bench attest --nodes 2 exits 0"
[ $RC -eq 0 ] || sed 's/^/# /' <<<"$ERR" | tail -n 20
ok $(jq -e '.Benchmark == "attest" and (.Runs | length) == 2 and .Runs[0].Nodes == 1 and
	.Runs[1].Nodes == 2 and (.Runs[0].HgsPids | length) == 1 and (.Runs[1].HgsPids | length) == 2 and
	.Runs[1].HgsPids[0] != .Runs[1].HgsPids[1] and all(.Runs[]; .Ok and .Attestations.Passed > 0 and
	.Attestations.Refused == 0 and .HgsCpuMillisecondsPerAttestation > 0) and .Comparison.Nodes == 2 and
	.Comparison.ThroughputRatio > 0 and .Comparison.CpuPerRequestRatio > 0' <<<"$OUT" >/dev/null; echo $?) \
	"--nodes 2: a 1-node and a 2-node run, each with its nodes' pids, and the comparison"
ok $(pascal; echo $?) "bench attest --nodes --json has PascalCase keys only"
# both nodes of the cluster decided attestations (host i attests to node i mod 2)
n1=$(cat "$w"/hgslab-bench-*/hgs/hgs.log 2>/dev/null | grep -c "attestation [0-9]*: host 'BenchHost1' (tpm) .*: Passed")
n2=$(cat "$w"/hgslab-bench-*/hgs-HGS02/hgs.log 2>/dev/null | grep -c "attestation [0-9]*: host 'BenchHost2' (tpm) .*: Passed")
ok $(gt "$n2" 0 && gt "$n1" 0 && [ "$(ls -d "$w"/hgslab-bench-*/hgs-HGS02 | wc -l)" = 1 ]; echo $?) \
	"the 2-node run's second node decided BenchHost2's attestations ($n2), the first BenchHost1's"
ok $(grep -q 'HGS node 2 of 2 serving on' <<<"$ERR" && grep -q 'adding node HGS02' <<<"$ERR"; echo $?) \
	"progress names each node"
ok $(! pgrep -f "$w" >/dev/null; echo $?) "--nodes 2: nothing left running"
rm -rf "$w"
run "$bin" bench attest --nodes 6
ok $([ $RC -eq 2 ] && grep -q -- '--nodes must be 1 to 5' <<<"$ERR"; echo $?) "bench attest --nodes 6 exits 2"

# ---- HGS dies during the window: the bench fails ----
w="$T/work-kill"
"$bin" bench attest --hosts 1 --seconds 5 --json --workdir "$w" >"$T/kill.out" 2>"$T/kill.err" &
BG_PID=$!
if wait_line "$T/kill.err" 'measuring: '; then
	hgs_pid=$(sed -n 's/.*(hgs serve, pid \([0-9]*\)).*/\1/p' "$T/kill.err")
	kill -KILL "$hgs_pid" 2>/dev/null
fi
wait "$BG_PID"; RC=$?; BG_PID=""
OUT=$(cat "$T/kill.out")
ok $([ $RC -eq 1 ] && grep -q '"Ok": false' <<<"$OUT" && grep -q 'hgslab: error: bench attest:' "$T/kill.err"; echo $?) \
	"a bench whose HGS dies exits 1 with \"Ok\": false (got $RC)"
ok $(pascal; echo $?) "the failed run's JSON has PascalCase keys only"
clean "$w" "after a failed run nothing is left running or on disk"

# ---- Ctrl-C: exit 130, everything stopped and removed ----
w="$T/work-int"
# a background job of a script starts with SIGINT ignored: give it back its default
env --default-signal=INT "$bin" bench attest --hosts 1 --seconds 30 --workdir "$w" \
	>"$T/int.out" 2>"$T/int.err" &
BG_PID=$!
wait_line "$T/int.err" 'measuring: ' && kill -INT "$BG_PID"
wait "$BG_PID"; RC=$?; BG_PID=""
ok $([ $RC -eq 130 ] && grep -q 'interrupted' "$T/int.err"; echo $?) "Ctrl-C stops the bench with exit 130 (got $RC)"
clean "$w" "after Ctrl-C nothing is left running or on disk"

# ---- bench all --json, Ctrl-C in its first benchmark: exit 130, the JSON of what it ran ----
w="$T/work-all"
env --default-signal=INT "$bin" bench all --json --workdir "$w" >"$T/all.out" 2>"$T/all.err" &
BG_PID=$!
wait_line "$T/all.err" 'measuring: ' && kill -INT "$BG_PID"
wait "$BG_PID"; RC=$?; BG_PID=""
OUT=$(cat "$T/all.out")
ok $([ $RC -eq 130 ] && jq -e '.Failed == 1 and (.Benchmarks | length) == 1 and
	.Benchmarks[0].Benchmark == "attest" and .Benchmarks[0].Ok == false' <<<"$OUT" >/dev/null; echo $?) \
	"bench all --json stopped by Ctrl-C exits 130 (got $RC) and reports the attest run it stopped"
ok $(pascal; echo $?) "bench all --json has PascalCase keys only, its benchmarks' too"
clean "$w" "bench all: after Ctrl-C nothing is left running or on disk"

# ---- bench provision: one pair, the shape of its report ----
: "${HGSLAB_GUEST_DIR:=$ROOT/build/guest}"
export HGSLAB_GUEST_DIR
require qemu-system-x86_64 swtpm mke2fs
require_guest "$HGSLAB_GUEST_DIR"
run "$bin" bench provision --help
ok $([ $RC -eq 0 ] && grep -q -- '--runs N' <<<"$OUT" && grep -q 'goal (2.5x)' <<<"$OUT"; echo $?) \
	"bench provision --help shows the options and the goal"
run "$bin" bench provision --runs 0
ok $([ $RC -eq 2 ] && grep -q -- '--runs must be 1 to 20' <<<"$ERR"; echo $?) "bench provision --runs 0 exits 2"
w="$T/work-prov"
run "$bin" bench provision --runs 1 --json --workdir "$w"
ok $([ $RC -eq 0 ] && jq -e '.Benchmark == "provision" and .Ok == true and .Runs == 1 and .Error == null and
	.Plain.MedianSeconds > 0 and .Check.MedianSeconds >= 0 and .Specialize.MedianSeconds > 0 and
	.Start.MedianSeconds > 0 and
	.Total.MedianSeconds >= .Specialize.MedianSeconds + .Start.MedianSeconds - 0.01 and
	(.Total.SamplesSeconds | length) == 1 and .Ratio > 0 and (.PairRatios | length) == 1 and
	.GoalRatio == 2.5 and (.GoalMet | type) == "boolean"' <<<"$OUT" >/dev/null; echo $?) \
	"bench provision --runs 1 --json: plain boot, the host's check, the specialize boot, the start and the ratio ($(jq -r .Ratio <<<"$OUT" 2>/dev/null)x, goal 2.5x)"
ok $([ $RC -eq 0 ] && pascal; echo $?) "bench provision --json has PascalCase keys only"
[ $RC -eq 0 ] || sed 's/^/# /' <<<"$ERR" | tail -n 5
grep -E "plain boot:|to running:" <<<"$ERR" | sed 's/^/# /'
clean "$w" "bench provision: nothing left running or on disk"

# ---- bench boot: one pair, the shape of its report ----
w="$T/work-boot"
run "$bin" bench boot --runs 1 --json --workdir "$w"
ok $([ $RC -eq 0 ] && jq -e '.Benchmark == "boot" and .Ok == true and .Runs == 1 and .Error == null and
	.Plain.MedianSeconds > 0 and .Shielded.MedianSeconds > 0 and .Shielded.GuestUptimeMedianSeconds > 0 and
	(.Plain.SamplesSeconds | length) == 1 and (.Shielded.SamplesSeconds | length) == 1 and
	.Ratio > 0 and (.PairRatios | length) == 1 and .RatioOfMedians > 0 and .GoalRatio == 1.2 and
	(.GoalMet | type) == "boolean"' <<<"$OUT" >/dev/null; echo $?) \
	"bench boot --runs 1 --json: a plain and a shielded boot timed, the ratio ($(jq -r .Ratio <<<"$OUT" 2>/dev/null)x, goal 1.2x)"
ok $([ $RC -eq 0 ] && pascal; echo $?) "bench boot --json has PascalCase keys only"
[ $RC -eq 0 ] || sed 's/^/# /' <<<"$ERR" | tail -n 5
clean "$w" "bench boot: nothing left running or on disk"

done_testing
