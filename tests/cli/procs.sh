#!/usr/bin/env bash
# procs.sh - process identity (issue #12, hole 6): a pid file says who owns a
# directory only while its owner holds its lock (flock), so a pid recycled by
# an unrelated process never counts.  `hgs serve` starts although its pid
# file names a live unrelated process; `host stop-vm` and `hgslab down`
# signal only processes whose identity they checked (the VM keeper's lock,
# the pid file of each lab process), never an impostor that took a recorded
# pid, and never a process group they did not create.  The impostors are
# plain `sleep` processes: each must still run at the end.
# Runs against $HGSLAB and, when set, $HGSLAB_ASAN (named but not built: a failure).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lab.sh"

require swtpm swtpm_setup jq setsid

trap 'kill_impostors; cleanup; rm -rf "$T"' EXIT
IMPOSTORS=()

# impostor [NAME]: a process that leads its own group and session, with a
# child in that group, whose command line is NAME ("sleep" by default); its pid in IMP.
impostor() {
	setsid bash -c "sleep 300 & exec -a '${1:-sleep}' sleep 300" </dev/null >/dev/null 2>&1 &
	local shell=$!
	disown "$shell" 2>/dev/null
	IMP=""
	for _ in $(seq 1 200); do
		IMP=$(pgrep -s "$shell" -f "^${1:-sleep}" 2>/dev/null | head -n1)
		[ -n "$IMP" ] && break
		sleep 0.02
	done
	IMP=${IMP:-$shell}
	IMPOSTORS+=("$IMP")
}
# kill_impostors: end every impostor's session (they are ours).
kill_impostors() {
	local p
	for p in ${IMPOSTORS[@]+"${IMPOSTORS[@]}"}; do
		pkill -KILL -s "$p" 2>/dev/null
	done
}
# alive PID: the process runs and is no zombie.
alive() { [ -d "/proc/$1" ] && ! grep -q '^State:.*Z' "/proc/$1/status" 2>/dev/null; }
# group_alive PID: every process of group PID still runs (the leader and its child).
group_alive() { [ "$(pgrep -g "$1" | wc -l)" -ge 2 ]; }

suite() {
	local bin=$1 tag d node host lab p1 p2 p3 k
	tag=$(basename "$(dirname "$(dirname "$bin")")")
	d="$T/$tag"
	node="$d/hgs" host="$d/host" lab="$d/lab"
	mkdir -p "$d"
	lab_net 3

	# ---- hgs serve: a pid file naming an unrelated live process blocks nothing ----
	run "$bin" hgs init --dir "$node" --name MyHgsService --domain relecloud.com --trust hostkey \
		--listen "$NET.1:0"
	ok $RC "$tag: hgs init"
	impostor
	p1=$IMP
	echo "$p1" >"$node/hgs.pid"
	if start_hgs SERVE "$bin" "$node" MyHgsService; then
		ok $([ "$(cat "$node/hgs.pid")" = "$SERVE_PID" ] && alive "$p1"; echo $?) \
			"$tag: hgs serve starts although hgs.pid named live pid $p1 (not holding its lock)"
	else
		ok 1 "$tag: hgs serve starts although hgs.pid named live pid $p1 (not holding its lock)"
		sed 's/^/# /' "$T/serve.err"
	fi
	"$bin" hgs serve --dir "$node" >"$T/serve2.out" 2>"$T/serve2.err"
	ok $([ $? -eq 1 ] && grep -q "already served by pid $SERVE_PID" "$T/serve2.err"; echo $?) \
		"$tag: a second hgs serve is refused, naming the live owner $SERVE_PID"
	stop_bg SERVE
	ok $([ "$STOP_RC" -eq 0 ] && [ ! -e "$node/hgs.pid" ] && alive "$p1"; echo $?) \
		"$tag: serve stops, its pid file goes; the unrelated process still runs"

	# ---- host stop-vm: a state.json naming an impostor keeper ----
	run "$bin" host new --dir "$host" --name FabricHost1 --domain fabrikam.com --listen "$NET.2"
	ok $RC "$tag: host new FabricHost1"
	mkdir -p "$d/bundle/vtpm"
	head -c 65536 /dev/urandom >"$d/bundle/disk.img"
	head -c 4096 /dev/urandom >"$d/bundle/vtpm/tpm2-00.permall"
	echo '{}' >"$d/bundle/key-protector.kp"
	head -c 256 /dev/urandom | base64 -w0 >"$d/bundle/policy.sig"   # as export-vm's bundles have
	echo '{"version":1,"name":"vm1","policy":"shielded","kp_id":"0123","disk_size":65536}' \
		>"$d/bundle/config.json"
	"$bin" host import-vm --dir "$host" --bundle "$d/bundle" >/dev/null
	impostor "hgslab host start-vm --dir $host --name vm1"
	p2=$IMP
	printf '{"state":"Running","keeper_pid":%s,"policy":"shielded"}\n' "$p2" >"$host/vms/vm1/state.json"
	run "$bin" host stop-vm --dir "$host" --name vm1 --wait-seconds 1
	ok $([ $RC -eq 1 ] && grep -q "is not running" <<<"$ERR" && alive "$p2" && group_alive "$p2"; echo $?) \
		"$tag: stop-vm leaves pid $p2 alone (its command line says start-vm, but it holds no keeper lock)"
	[ $RC -eq 1 ] || sed 's/^/# /' <<<"$OUT$ERR"

	# ---- hgslab down: recorded pids now held by impostors, in groups of their own ----
	impostor
	p3=$IMP
	mkdir -p "$lab"
	jq -n --arg node "$node" --arg host "$host" --arg fab "$d/fabric" \
		--argjson a "$p1" --argjson b "$p3" --argjson c "$p3" \
		'{Scenario: "x", Work: "", Hgs: [{Name: "MyHgsService", Dir: $node, Pid: $a}],
		  Hosts: [{Name: "FabricHost1", Dir: $host, Pid: $b}], Dc: {Dir: $fab, Pid: $c}}' \
		>"$lab/lab.json"
	run "$bin" down --workdir "$lab" --keep
	k=0
	for p in "$p1" "$p2" "$p3"; do
		alive "$p" && group_alive "$p" || k=1
	done
	ok $([ $RC -eq 0 ] && [ $k -eq 0 ]; echo $?) \
		"$tag: down signals none of pids $p1 $p2 $p3 (not the lab's: no lock) nor their groups"
	[ $RC -eq 0 ] || sed 's/^/# /' <<<"$OUT$ERR"
	kill_impostors
	IMPOSTORS=()
}

each_binary suite
done_testing
