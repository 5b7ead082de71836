#!/usr/bin/env bash
# cluster.sh - an HGS of three nodes in the lab (issue #15), end to end:
#   - scenarios/hgs-cluster-failover.yaml passes: HGS02 killed and left down,
#     then HGS01, hosts still attest and the VM starts; an outage refuses;
#     the JSON report names the node that answered each attest and start
#     (the first living one of the resolve list);
#   - the hosts' client fails over: with HGS01 and HGS02 dead, FabricHost1's
#     answer came from HGS03, which get-client-configuration shows with its
#     address;
#   - lab.json lists the nodes (Name, Dir, Address, Pid), `status` shows a
#     node killed without restart as Down;
#   - the fault matrix's cluster components: one node killed at a step and
#     not restarted, then two of three, and the scenario still passes with
#     every answer in the shared logs exactly once; a planted answer HGS
#     never logged fails the cell, named;
#   - a kill of a node the HGS does not have is an error at its position.
# Needs `make guest` (one VM start).
. "$(dirname "$0")/lib.sh"

: "${HGSLAB_GUEST_DIR:=$ROOT/build/guest}"
export HGSLAB_GUEST_DIR
B=$HGSLAB
SC="$ROOT/scenarios/hgs-cluster-failover.yaml"

require swtpm swtpm_setup qemu-system-x86_64 jq
require_guest "$HGSLAB_GUEST_DIR"

cleanup() {
	local p
	"$B" down --workdir "$T/up" >/dev/null 2>&1
	for p in $(pgrep -f "$T" 2>/dev/null); do
		[ "$p" = "$$" ] || kill -KILL "$p" 2>/dev/null
	done
}
trap 'cleanup; rm -rf "$T"' EXIT

# ---- the parser: nodes that exist ----
sed 's/hgs:HGS02/hgs:HGS04/' "$SC" >"$T/bad.yaml"
run "$B" run --check "$T/bad.yaml"
ok $([ $RC -eq 2 ] && grep -q "bad.yaml:[0-9]*:[0-9]*: step 5 (kill): unknown component 'hgs:HGS04'" <<<"$ERR"; echo $?) \
	"a kill of a node the HGS does not have is an error at its position"
[ $RC -eq 2 ] || echo "# rc $RC: $ERR"

# ---- the scenario, its report ----
run "$B" run "$SC" --workdir "$T/run" --keep --report json --out "$T/report.json"
W="$T/run/hgs-cluster-failover"
ok $([ $RC -eq 0 ] && [ "$(jq '.Scenarios[0].Passed' "$T/report.json")" = true ]; echo $?) \
	"hgs-cluster-failover passes: a node down, two down, an outage, all back"
[ $RC -eq 0 ] || tail -n 20 <<<"$OUT$ERR" | sed 's/^/# /'
node() { jq -r ".Scenarios[0].Steps[$1].Node // \"null\"" "$T/report.json"; }
ok $([[ "$(node 3)" == HGS01* ]] && [[ "$(node 5)" == HGS01* ]] && [[ "$(node 6)" == HGS0[13]* ]] &&
	[[ "$(node 8)" == HGS03* ]] && [ "$(node 13)" = null ]; echo $?) \
	"the report names the node that answered: HGS01 while it lives, HGS03 once HGS01 and HGS02 are dead, none in the outage ($(node 3); $(node 5); $(node 6); $(node 8); $(node 13))"

# ---- the client's failover, as the host shows it ----
run "$B" host get-client-configuration --dir "$W/hosts/FabricHost1" --json
net=$(jq -r '.Hgs[0].Address' "$W/lab.json" | sed 's/\.[0-9]*$//')
ok $([ "$(jq -r .AttestationNode <<<"$OUT")" = HGS03 ] &&
	[ "$(jq -r .AttestationNodeAddress <<<"$OUT")" = "$net.3" ] &&
	[ "$(jq -r '.Resolve[0]' <<<"$OUT" | sed 's/.*://')" = "$net.1,$net.2,$net.3" ]; echo $?) \
	"FabricHost1's first resolved nodes were dead: HGS03 ($net.3) answered, and get-client-configuration says so"
[ "$(jq -r .AttestationNode <<<"$OUT")" = HGS03 ] || echo "# $OUT"
ok $(jq -e '.KeyProtectionNode | test("^HGS0[13]$")' <<<"$OUT" >/dev/null; echo $?) \
	"the key release's node is shown too ($(jq -r .KeyProtectionNode <<<"$OUT"))"
ok $([ "$(jq -r '[.Hgs[0].Nodes[].Name] | join(",")' "$W/lab.json")" = HGS01,HGS02,HGS03 ] &&
	[ "$(jq -r '[.Hgs[0].Nodes[].Address] | join(",")' "$W/lab.json")" = "$net.1,$net.2,$net.3" ] &&
	[ "$(jq -r '.Hgs[0].Nodes[1].Dir' "$W/lab.json")" = "$W/hgs/MyHgsService-HGS02" ] &&
	jq -e '.Hgs[0].Nodes | all(.Pid > 0)' "$W/lab.json" >/dev/null; echo $?) \
	"lab.json lists the three nodes: Name, Dir, Address, Pid"

# ---- status: a node killed without restart is Down ----
run "$B" up "$SC" --workdir "$T/up" --no-dashboard --json
pid2=$(jq -r '.Hgs[0].Nodes[1].Pid' "$T/up/lab.json" 2>/dev/null)
[ -n "$pid2" ] && [ "$pid2" != null ] && kill -KILL "$pid2" 2>/dev/null
sleep 0.5
run "$B" status --workdir "$T/up" --json
ok $([ "$(jq -r '.[] | select(.Name == "MyHgsService/HGS02") | .State' <<<"$OUT")" = Down ] &&
	[ "$(jq -r '.[] | select(.Name == "MyHgsService/HGS01") | .State' <<<"$OUT")" = Up ] &&
	[ "$(jq -r '.[] | select(.Kind == "HGS") | .State' <<<"$OUT")" = Running ]; echo $?) \
	"status: HGS02 killed is Down, HGS01 Up, the HGS still Running"
[ $RC -eq 0 ] || echo "# $OUT $ERR"
run "$B" down --workdir "$T/up"
ok $([ $RC -eq 0 ] && [ -z "$(pgrep -f "$T/up")" ]; echo $?) "down stops every node"

# ---- faults: nodes killed and not restarted; every answer logged exactly once ----
run "$B" faults --scenario "$SC" --component hgs-node --step 6 --step 7 --workdir "$T/f1" --json
ok $([ $RC -eq 0 ] && [ "$(jq '[.Cells[] | select(.Status == "pass")] | length' <<<"$OUT")" = 2 ]; echo $?) \
	"a node killed at an attest and at the VM start (not restarted; HGS02 is down already): the scenario passes, every answer logged once"
[ $RC -eq 0 ] || jq -r '.Cells[] | "# \(.Step) \(.Status): \(.Message)"' <<<"$OUT"
run "$B" faults --scenario "$SC" --component hgs-two-nodes --step 4 --workdir "$T/f2" --json
ok $([ $RC -eq 0 ] && [ "$(jq -r '.Cells[0].Status' <<<"$OUT")" = pass ] &&
	grep -q 'hgs serve (HGS01) (pid [0-9]*) and hgs serve (HGS02)' <<<"$(jq -r '.Cells[0].Killed' <<<"$OUT")"; echo $?) \
	"two of three nodes killed at the first attest: the last one answers, the scenario passes ($(jq -r '.Cells[0].Killed' <<<"$OUT"))"
[ $RC -eq 0 ] || jq -r '.Cells[] | "# \(.Step) \(.Status): \(.Message)"' <<<"$OUT"
run "$B" faults --scenario "$SC" --component hgs-node --step 4 --plant log --workdir "$T/f3" --json
ok $([ $RC -eq 6 ] && grep -q 'attestation 1000000000 that host FabricHost1 was answered with (by HGS-planted) is not in the attestation log' \
	<<<"$(jq -r '.Cells[0].Message' <<<"$OUT")"; echo $?) \
	"an answer HGS never logged fails the cell, named (the exactly-once check bites)"
[ $RC -eq 6 ] || echo "# rc $RC: $(jq -r '.Cells[0].Message' <<<"$OUT")"
ok $([ -z "$(pgrep -f "$T/f")" ]; echo $?) "no process of the cells is left"

done_testing
