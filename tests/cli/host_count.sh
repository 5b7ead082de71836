#!/usr/bin/env bash
# host_count.sh - a scenario host entry with count: N and a '#' name
# pattern brings up N real hosts (each its agent and swtpm TPM) that attest:
# a fleet of six debug-on hosts beside one healthy host; one of the fleet is
# registered and refused for DebugMode, another unregistered and refused as
# unknown, the healthy one passes; lab.json lists all seven; nothing is left
# running afterwards.
. "$(dirname "$0")/lib.sh"
require swtpm swtpm_setup jq

cat >"$T/fleet.yaml" <<'YAML'
version: 1
name: fleet
description: a fleet of hosts from one entry
hgs: { name: MyHgsService, domain: relecloud.com, trust: tpm }
hosts:
  - { name: FabricHost1 }
  - { name: "FleetHost##", count: 6, profile: { base: baseline, debug: on } }
steps:
  - register: { host: FabricHost1 }
  - register: { host: FleetHost06 }
  - attest: { host: FabricHost1, expect: Passed }
  - attest: { host: FleetHost06, expect: InsecureHostConfiguration, substatus: [DebugMode] }
  - attest: { host: FleetHost03, expect: UnauthorizedHost }
YAML
run "$HGSLAB" run --check "$T/fleet.yaml"
ok $([ $RC -eq 0 ] && grep -q '7 hosts' <<<"$OUT"; echo $?) "run --check: one entry with count: 6 and the other host make 7 hosts"
run "$HGSLAB" up --workdir "$T/lab" --json "$T/fleet.yaml"
ok $([ $RC -eq 0 ] && [ "$(jq -r '[.Hosts[].Name] | join(",")' "$T/lab/lab.json")" = \
	FabricHost1,FleetHost01,FleetHost02,FleetHost03,FleetHost04,FleetHost05,FleetHost06 ]; echo $?) \
	"up: lab.json lists FabricHost1 and FleetHost01..FleetHost06, each with its own agent"
ok $([ "$(jq '[.Hosts[].Pid] | unique | length' "$T/lab/lab.json")" = 7 ]; echo $?) "seven agents, seven pids"
run "$HGSLAB" down --workdir "$T/lab"
ok $RC "down stops the fleet"
run "$HGSLAB" run --workdir "$T/run" "$T/fleet.yaml"
ok $([ $RC -eq 0 ] && grep -q '5 of 5 steps passed' <<<"$OUT$ERR"; echo $?) \
	"the fleet's steps pass: one refused for DebugMode, one unknown, the healthy host Passed"
ok $(! pgrep -f "$T/" >/dev/null; echo $?) "nothing of the fleet is left running"
done_testing
