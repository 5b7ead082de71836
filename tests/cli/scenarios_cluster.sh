#!/usr/bin/env bash
# scenarios_cluster.sh - the library's HGS cluster lessons end to end, beside
# tests/cli/scenarios.sh (which plays the rest of the library): a cluster
# losing nodes (hgs-cluster-failover), the same on PostgreSQL, with the
# lab's own server started and stopped (hgs-cluster-postgresql), every node
# lost and restored from an encrypted backup (hgs-restore-from-backup), a
# total outage without and with key material caching (hgs-outage-*). Every
# scenario and every step passes and explains itself; no process of the labs
# and no PostgreSQL server of theirs is left, every passed lab is removed.
. "$(dirname "$0")/lib.sh"

ROOT=${HGSLAB_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
: "${HGSLAB_GUEST_DIR:=$ROOT/build/guest}"
export HGSLAB_GUEST_DIR
LIB="$ROOT/scenarios"
require swtpm swtpm_setup qemu-system-x86_64 jq psql
require_guest "$HGSLAB_GUEST_DIR"
trap 'for p in $(pgrep -f "$T" 2>/dev/null); do [ "$p" = "$$" ] || kill -KILL "$p" 2>/dev/null; done; rm -rf "$T"' EXIT

mapfile -t files < <(ls "$LIB"/*.yaml | grep -E '/hgs-(cluster|outage|restore)-[^/]*\.yaml$')
ok $([ "${#files[@]}" -ge 5 ]; echo $?) "the cluster lessons of the library: ${#files[@]} scenarios"
pg_before=$(pgrep -c -u postgres postgres 2>/dev/null || true)
t0=$(date +%s)
"$HGSLAB" run --workdir "$T/lib" --report json --out "$T/lib.json" "${files[@]}" >"$T/lib.human" 2>"$T/lib.err"
rc=$?
secs=$(($(date +%s) - t0))
n_pass=$(jq '[.Scenarios[] | select(.Passed)] | length' "$T/lib.json" 2>/dev/null)
ok $([ $rc -eq 0 ] && [ "$n_pass" = "${#files[@]}" ]; echo $?) \
	"every cluster lesson passes ($n_pass of ${#files[@]}, ${secs} s)"
if [ $rc -ne 0 ]; then
	grep -E "✗|FAIL|ERROR|line [0-9]+:" "$T/lib.human" | head -n 30 | sed 's/^/# /'
	tail -n 5 "$T/lib.err" | sed 's/^/# /'
fi
ok $(pascal_keys "$T/lib.json"; echo $?) "run --report json: PascalCase keys only"
for s in "${files[@]}"; do
	name=$(basename "$s" .yaml)
	jq -e --arg n "$name" '.Scenarios[] | select(.Name == $n) | .Passed and (.Steps | length > 0) and
		all(.Steps[]; .Passed and (.DurationSeconds >= 0) and (.Concept | length > 0))' "$T/lib.json" >/dev/null
	ok $? "scenario $name: every step passed and explains itself"
done
# the failover names the node that answered; the restore brings the lost host's registration back
ok $(jq -e '.Scenarios[] | select(.Name == "hgs-cluster-failover") | [.Steps[] | select(.Node != null) | .Node] |
	any(startswith("HGS02")) or any(startswith("HGS03"))' "$T/lib.json" >/dev/null; echo $?) \
	"hgs-cluster-failover: the report names another node than HGS01 once HGS01 is down"
ok $(jq -e '.Scenarios[] | select(.Name == "hgs-restore-from-backup") | [.Steps[] | .Got] |
	index("restored") != null' "$T/lib.json" >/dev/null; echo $?) "hgs-restore-from-backup: the restore step restored the nodes"
ok $([ -z "$(pgrep -af "$T/lib" | grep -v -e "^$$ " -e pgrep)" ] && [ -z "$(ls -A "$T/lib" 2>/dev/null)" ] &&
	[ "$(pgrep -c -u postgres postgres 2>/dev/null || true)" = "$pg_before" ] &&
	[ -z "$(ls -d /tmp/hgslab-pgsql-* 2>/dev/null)" ]; echo $?) \
	"after the lessons: no process left, no PostgreSQL server of theirs, every passed lab removed"
done_testing
