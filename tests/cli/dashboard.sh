#!/usr/bin/env bash
# dashboard.sh - the live dashboard (docs/dashboard.md) on the article
# walkthrough's fabric: `up --play` starts it detached and prints its URL and
# the teacher token (lab.json "Dashboard", the token file 0600); `status`
# lists it; its API answers PascalCase JSON and refuses what it should
# (unknown route 404, oversized body 413, bad JSON 400, a teacher action
# without or with a wrong token 403); the page in headless Chromium
# (tests/browser/dashboard.js: every host's status, the refused start's
# diagram, a reboot into debug=on seen without a reload, no request
# elsewhere); `down` leaves no dashboard process; `run --dashboard` serves
# one while the run plays and leaves none behind.
. "$(dirname "$0")/lib.sh"

require jq curl
GUEST=${HGSLAB_GUEST_DIR:-$ROOT/build/guest}
require_guest "$GUEST"
LAB=$T/lab
cleanup() {
	[ -f "$LAB/lab.json" ] && "$HGSLAB" down --workdir "$LAB" >/dev/null 2>&1
	rm -rf "$T"
}
trap cleanup EXIT

run "$HGSLAB" up --workdir "$LAB" --guest "$GUEST" --play "$ROOT/scenarios/article-walkthrough.yaml"
ok "$RC" "up --play brings the article walkthrough's fabric up (exit $RC)"
[ "$RC" = 0 ] || { echo "$ERR" | tail -5 | sed 's/^/# /'; done_testing; exit 1; }
URL=$(jq -r '.Dashboard.Url // empty' "$LAB/lab.json")
PID=$(jq -r '.Dashboard.Pid // 0' "$LAB/lab.json")
TOKEN=$(cat "$LAB/dashboard/token" 2>/dev/null)
ok "$([ -n "$URL" ] && [ "$PID" -gt 0 ] && [ "$(jq -r .Dashboard.Dir "$LAB/lab.json")" = "$LAB/dashboard" ]; echo $?)" \
	"lab.json records the dashboard (Url, Pid, Dir)"
ok "$(echo "$OUT" | grep -qF "dashboard            $URL" && echo "$OUT" | grep -qF "teacher token        $TOKEN"; echo $?)" \
	"up prints the dashboard's URL and the teacher token with the other URLs"
ok "$([ "$(stat -c %a "$LAB/dashboard/token")" = 600 ] && [[ $TOKEN =~ ^[0-9A-F]{64}$ ]]; echo $?)" \
	"the token is 64 random hex digits in a 0600 file of the lab"
case $URL in http://127.*) r=0 ;; *) r=1 ;; esac
ok "$r" "the dashboard listens on loopback ($URL)"
run "$HGSLAB" status --workdir "$LAB" --json
ok "$(echo "$OUT" | jq -e '[.[] | select(.Kind == "Dashboard" and .State == "Running")] | length == 1' >/dev/null; echo $?)" \
	"status lists the dashboard, running"

# the API
# alive PID: the process runs and is no zombie (as procs.sh says it).
alive() { [ -d "/proc/$1" ] && ! grep -q '^State:.*Z' "/proc/$1/status" 2>/dev/null; }
code() { curl -s -o "$T/body" -w '%{http_code}' "$@"; }
curl -sf "${URL}api/fabric" >"$T/fabric.json"
ok "$(jq -e '(.Hosts | length) == 2 and (.Hgs[0].TrustMode == "tpm")' "$T/fabric.json" >/dev/null && pascal_keys "$T/fabric.json"; echo $?)" \
	"GET /api/fabric is the fabric (two hosts, HGS in TPM mode), PascalCase"
curl -sf "${URL}api/recent" >"$T/recent.json"
ok "$(jq -e '[.[] | select(.Kind == "Attestation")] | length >= 2' "$T/recent.json" >/dev/null && pascal_keys "$T/recent.json"; echo $?)" \
	"GET /api/recent gives the attestations so far, PascalCase"
ok "$(jq -e '[.[] | select(.Kind == "KeyRelease" and .Ok)] | length >= 1' "$T/recent.json" >/dev/null; echo $?)" \
	"the key release of the VM's start is an event"
ok "$(jq -e '[.[] | select(.Kind == "Attestation" and (.Ok | not) and .Host == "FabricHost2" and (.Title | test("DebugMode")))] | length >= 1' "$T/recent.json" >/dev/null; echo $?)" \
	"FabricHost2's refusal is an event that says DebugMode"
want=$("$HGSLAB" diagnose --remedies --json | jq -r '.[] | select(.Name == "DebugMode") | .Remedy')
ok "$([ -n "$want" ] && jq -e --arg w "$want" '[.[] | select(.Kind == "Attestation" and (.Ok | not) and .Host == "FabricHost2" and (.Title | test("DebugMode"))) | .Remedy] | all(. == $w) and length >= 1' "$T/recent.json" >/dev/null; echo $?)" \
	"the refusal's fix is DebugMode's remedy from the one table (diagnose --remedies)"
curl -sf "${URL}api/host/FabricHost1" >"$T/host.json"
ok "$(jq -e '(.Boot.Pcrs | length) > 0 and (.Boot.Events | length) > 0 and (.Policies | length) > 0 and .Status == "Passed"' "$T/host.json" >/dev/null && pascal_keys "$T/host.json"; echo $?)" \
	"GET /api/host/FabricHost1 has its PCRs, log events and policies, PascalCase"
curl -sf "${URL}api/vm/ShieldedVM1" >"$T/vm.json"
ok "$(jq -e '.Owner == "Owner" and ([.Hosts[] | select(.MayRun)] | map(.Host)) == ["FabricHost1"]' "$T/vm.json" >/dev/null && pascal_keys "$T/vm.json"; echo $?)" \
	"GET /api/vm/ShieldedVM1 says where it may run (FabricHost1 only), PascalCase"
ok "$([ "$(code "${URL}api/nothing")" = 404 ] && jq -e .error "$T/body" >/dev/null; echo $?)" "an unknown route is 404 with an error"
ok "$([ "$(code "${URL}api/host/NoSuchHost")" = 404 ]; echo $?)" "an unknown host is 404"
head -c 40000 /dev/zero | tr '\0' 'x' >"$T/big"
ok "$([ "$(code -X POST -H "X-Hgslab-Token: $TOKEN" --data-binary @"$T/big" "${URL}api/action")" = 413 ]; echo $?)" \
	"an oversized body is 413"
ok "$([ "$(code -X POST -H "X-Hgslab-Token: $TOKEN" -d '{"Action":' "${URL}api/action")" = 400 ] && jq -e '.error | test("JSON")' "$T/body" >/dev/null; echo $?)" \
	"bad JSON is 400, saying so"
ok "$([ "$(code -X POST -H "X-Hgslab-Token: $TOKEN" -d '{"Action":"format-disk"}' "${URL}api/action")" = 400 ]; echo $?)" \
	"an unknown action is 400"
ok "$([ "$(code -X POST -d '{"Action":"kill-hgs"}' "${URL}api/action")" = 403 ] && jq -e '.error | test("token")' "$T/body" >/dev/null; echo $?)" \
	"a teacher action without the token is 403, naming the token"
ok "$([ "$(code -X POST -H "X-Hgslab-Token: ${TOKEN,,}" -d '{"Action":"kill-hgs"}' "${URL}api/action")" = 403 ]; echo $?)" \
	"a teacher action with a wrong token is 403"
ok "$(alive "$(jq -r '.Hgs[0].Pid' "$LAB/lab.json")"; echo $?)" "and HGS still runs"
timeout 3 curl -sN -D "$T/events.head" "${URL}api/events" >"$T/events"
ok "$([ $? = 124 ] && grep -q '^event: lab' "$T/events" && grep -qi '^content-type: text/event-stream' "$T/events.head"; echo $?)" \
	"GET /api/events streams lab events (text/event-stream) and stays open"

# the page, in headless Chromium
browser dashboard.js "$URL" "$TOKEN" FabricHost1

# the ASan build serves the same API without a memory error or a leak (its own run on this lab)
if [ -n "${HGSLAB_ASAN:-}" ] && built "$HGSLAB_ASAN"; then
	kill -TERM "$PID"
	for _ in $(seq 50); do alive "$PID" || break; sleep 0.1; done
	"$HGSLAB_ASAN" dashboard --workdir "$LAB" >"$T/asan.out" 2>"$T/asan.err" &
	APID=$!
	for _ in $(seq 100); do grep -q serving "$T/asan.out" && break; sleep 0.1; done
	AURL=$(sed -n 's/.* on \(http:[^ ]*\)$/\1/p' "$T/asan.out")
	for path in api/fabric api/recent api/host/FabricHost2 api/vm/ShieldedVM1 api/host/None web/dashboard.js ""; do
		curl -s -o /dev/null "$AURL$path"
	done
	timeout 2 curl -sN "${AURL}api/events" >/dev/null
	curl -s -o /dev/null -X POST --data-binary @"$T/big" "${AURL}api/action"
	curl -s -o /dev/null -X POST -H "X-Hgslab-Token: $TOKEN" -d '{"Action":' "${AURL}api/action"
	curl -s -o /dev/null -X POST -H "X-Hgslab-Token: $TOKEN" -d '{"Action":"restart-hgs"}' "${AURL}api/action"
	(timeout 5 curl -sN "${AURL}api/events" >/dev/null &)
	sleep 0.5
	kill -TERM "$APID"
	wait "$APID"
	arc=$?
	ok "$([ "$arc" = 0 ] && ! grep -q "Sanitizer\|runtime error" "$T/asan.err"; echo $?)" \
		"asan: the dashboard serves every route and stops with an open stream, no memory error, no leak (exit $arc)"
	grep "Sanitizer\|runtime error" -A5 "$T/asan.err" | head -20 | sed 's/^/# /'
fi

# down stops it
run "$HGSLAB" down --workdir "$LAB"
ok "$RC" "down stops the fabric (exit $RC)"
ok "$(! alive "$PID"; echo $?)" "down leaves no dashboard process"
ok "$(! curl -s -o /dev/null "$URL"; echo $?)" "nothing answers at the dashboard's URL any more"

# run --dashboard: served while the run plays, gone at its end
run "$HGSLAB" run --workdir "$T/run" --guest "$GUEST" --dashboard --dashboard-listen 127.0.0.1:0 \
	"$ROOT/scenarios/unregistered-host.yaml"
ok "$RC" "run --dashboard plays the scenario (exit $RC)"
RURL=$(echo "$ERR" | sed -n 's/.*live dashboard on \(http:[^ ]*\).*/\1/p' | head -1)
ok "$([ -n "$RURL" ]; echo $?)" "run --dashboard prints the dashboard's URL ($RURL)"
ok "$(! curl -s -o /dev/null "$RURL"; echo $?)" "the run's dashboard is gone at its end"

# run --dashboard follows the lab that plays; Ctrl-C leaves no process and no dashboard
"$HGSLAB" run --workdir "$T/run2" --guest "$GUEST" --dashboard "$ROOT/scenarios/article-walkthrough.yaml" \
	>"$T/run2.out" 2>"$T/run2.err" &
RUNPID=$!
RURL=
for _ in $(seq 100); do
	RURL=$(sed -n 's/.*live dashboard on \(http:[^ ]*\).*/\1/p' "$T/run2.err" | head -1)
	[ -n "$RURL" ] && break
	sleep 0.1
done
seen=1
for _ in $(seq 300); do
	if curl -sf "${RURL}api/fabric" 2>/dev/null | jq -e '.Scenario == "article-walkthrough" and (.Hosts | length) == 2' >/dev/null 2>&1; then
		seen=0
		break
	fi
	sleep 0.1
done
ok "$seen" "while the run plays, its dashboard shows the scenario's fabric ($RURL)"
kill -INT "$RUNPID"
wait "$RUNPID"
rc=$?
ok "$([ "$rc" = 130 ]; echo $?)" "Ctrl-C ends the run (exit $rc)"
ok "$(! curl -s -o /dev/null "$RURL" && [ -z "$(pgrep -f "$T/run2" | grep -vx "$$")" ]; echo $?)" \
	"and leaves no process of the run and no dashboard"
done_testing
