#!/usr/bin/env bash
# hgs-cluster.sh - one HGS as three nodes (docs/hgs-cluster.md), from the
# outside: `hgs init` + two `hgs add-node` (one from the first node, one
# from the second; on PostgreSQL the third with --from-state, as on another
# machine), add-node's refusals (a taken name, no --from, a symbolically
# linked directory, a non-empty one, a wrong export password: exit 2; a
# store that cannot be opened; nothing left),
# the store file's checks (mode, link), three `hgs serve` on their own
# loopback addresses (readiness lines through fifos), the X-Hgs-Node header
# and "Node" of every node, a nonce issued by node 1 accepted at node 2 once
# and refused at node 3 (and a forged one refused), the LogId of an answer
# found in the log, a health certificate issued by node 2 releasing a key at
# node 3's KPS, registrations made through one node's directory seen by
# another, registrations and attestations taken by the three nodes at once
# (nothing lost, nothing twice: every answered attestation is in the log by
# its LogId exactly once, and the log holds nothing else), and get-cluster
# (Up, then Down for a node killed with SIGKILL and for nodes stopped).
#
# The suite is one function of the store kind: "sqlite" (the first node's
# hgs.db, shared by the three processes) and "pgsql" (a throw-away
# PostgreSQL server from `hgslab pgsql start`; run when the binary has that
# verb, else a comment says so and nothing is counted for it).  Runs
# against $HGSLAB and, when set, $HGSLAB_ASAN (named but not built: a failure).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lab.sh"

require openssl jq curl base64

# Attestations each of the three workers of each node makes at once.
PER_WORKER=6

# Keys made once with the openssl CLI: two host keys, a transport key.
k="$T/keys"
mkdir -p "$k"
(
	cd "$k" || exit 1
	for n in hk hk2; do
		openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out $n.key 2>/dev/null
		openssl pkey -in $n.key -pubout -out $n.pub
	done
	openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out tk.key 2>/dev/null
	openssl pkey -in tk.key -pubout -out tk.pub
) || { echo "Bail out! cannot make test keys with openssl"; exit 1; }

# nonce URL: a fresh nonce (base64) from the node at URL.
nonce() { curl -s -X POST -d '{"host":"FabricHost1"}' "$1/Attestation/v1/nonce" | jq -r .nonce; }

# attest_body HOST KEY NONCE: a host-key attestation body signed with KEY (hk or hk2).
attest_body() {
	local d
	d=$(mktemp -d "$T/att.XXXXXX")
	printf %s "$3" | base64 -d >"$d/msg.bin"
	openssl pkey -pubin -in "$k/tk.pub" -outform DER >>"$d/msg.bin"
	openssl dgst -sha256 -sign "$k/$2.key" -out "$d/sig.bin" "$d/msg.bin"
	jq -cn --arg h "$1" --arg n "$3" --rawfile hk "$k/$2.pub" --rawfile tk "$k/tk.pub" \
		--arg s "$(base64 -w0 "$d/sig.bin")" \
		'{host: $h, nonce: $n, host_key: $hk, transport_key: $tk, signature: $s}'
	rm -rf "$d"
}

# attest URL BODY: POST it; the answer in REPLY.
attest() { REPLY=$(curl -s -X POST --data-binary "$2" "$1/Attestation/v1/hostkey/attest"); }

# worker URL_NONCE URL_ATTEST N OUT: N attestations (nonce from one node, proof to another),
# each answer's LogId and status appended to OUT as "ID STATUS".
worker() {
	local i body reply
	for ((i = 0; i < $3; i++)); do
		body=$(attest_body FabricHost1 hk "$(nonce "$1")")
		reply=$(curl -s -X POST --data-binary "$body" "$2/Attestation/v1/hostkey/attest")
		jq -r '"\(.LogId) \(.status)"' <<<"$reply" >>"$4"
	done
}

# serve_node VAR BIN DIR ADDR: `hgs serve` of node DIR on ADDR:0 as background VAR; URL in VAR_URL.
serve_node() {
	start_bg "$1" "$2" hgs serve --dir "$3" --listen "$4:0"
	next_line "$1" 60
	serve_url "$1" "$LINE" MyHgsService
}

# node_state BIN DIR NAME: NAME's State in get-cluster --json.
node_state() { "$1" hgs get-cluster --dir "$2" --json | jq -r ".[] | select(.Name == \"$3\") | .State"; }

# wait_state BIN DIR NAME STATE: true once NAME shows STATE (20 s at most, polled).
wait_state() {
	local i
	for ((i = 0; i < 40; i++)); do
		[ "$(node_state "$1" "$2" "$3")" = "$4" ] && return 0
		sleep 0.5
	done
	return 1
}

# leftovers DIR: staging folders of add-node or init left in DIR (none expected).
leftovers() { find "$1" -maxdepth 1 -name '.*.join.*' -o -maxdepth 1 -name '.*.init.*' | wc -l; }

# cluster_suite BIN KIND: the whole story on a store of KIND (sqlite or pgsql).
cluster_suite() {
	local bin=$1 kind=$2 tag w d1 d2 d3 net store=() pg="" i j n0 body hc id mark ids expected got
	local pids=()
	tag="$(basename "$(dirname "$(dirname "$bin")")")/$kind"
	w="$T/$(basename "$(dirname "$(dirname "$bin")")")-$kind"
	mkdir -p "$w"
	d1="$w/HGS01" d2="$w/HGS02" d3="$w/HGS03"
	lab_net $((${#tag} + ${#kind}))
	net=$NET
	if [ "$kind" = pgsql ]; then
		# as root the server runs as 'postgres', which must be able to reach its folder
		chmod o+x "$T" "$w"
		run "$bin" pgsql start --dir "$w/pg"
		pg=$(grep -o 'postgres[a-z]*://[^ ]*' <<<"$OUT" | head -n1)
		ok $([ $RC -eq 0 ] && [ -n "$pg" ]; echo $?) "$tag: pgsql start gives a connection URI"
		[ -n "$pg" ] || return
		store=(--store "$pg")
	fi

	# ---- three nodes ----
	run "$bin" hgs init --dir "$d1" --name MyHgsService --domain relecloud.com --trust hostkey \
		--listen "$net.1:0" ${store[@]+"${store[@]}"}
	ok $([ $RC -eq 0 ] && [ "$(cat "$d1/node-name")" = HGS01 ]; echo $?) "$tag: init makes node HGS01"
	run "$bin" hgs add-node --dir "$d2" --from "$d1" --node-name HGS02
	ok $([ $RC -eq 0 ] && [ "$(stat -c %a "$d2/store")" = 600 ] && [ ! -e "$d2/hgs.db" ] &&
		cmp -s "$d1/keys/attestation-signer.key" "$d2/keys/attestation-signer.key" &&
		[ "$(stat -c %a "$d2/keys/kps-encryption.key")" = 600 ]; echo $?) \
		"$tag: add-node HGS02 --from HGS01: a store file (0600), the same keys (0600)"
	if [ "$kind" = sqlite ]; then
		ok $([ "$(cat "$d2/store")" = "$d1/hgs.db" ]; echo $?) "$tag: HGS02's store file names HGS01's hgs.db"
	else
		ok $([ "$(cat "$d2/store")" = "$pg" ]; echo $?) "$tag: HGS02's store file names the PostgreSQL URI"
	fi
	run "$bin" diagnose --hgs "$d2"
	ok $(grep -q "^HGS MyHgsService ($d2)" <<<"$OUT" && grep -q 'Trust mode' <<<"$OUT" &&
		! grep -q 'is not an HGS node' <<<"$ERR"; echo $?) \
		"$tag: diagnose --hgs takes a joined node (a store file, no hgs.db) for a node"
	printf 'correct horse battery\n' >"$w/pw.txt"
	printf 'wrong horse battery\n' >"$w/bad-pw.txt"
	run "$bin" hgs export-server-state --dir "$d1" --out "$w/state.hgsbak" --password-file "$w/pw.txt"
	ok $RC "$tag: export-server-state of HGS01 (the keys for a node on another machine)"
	# a backup restored after every node was lost: the new node starts the cluster again
	run "$bin" hgs import-server-state --dir "$w/restored" --file "$w/state.hgsbak" --password-file "$w/pw.txt"
	ok $([ $RC -eq 0 ] && [ "$("$bin" hgs get-cluster --dir "$w/restored" --json | jq -r '[.[].Name] | join(",")')" = HGS01 ]; echo $?) \
		"$tag: import-server-state of a cluster's backup: the restored node alone in its registry (HGS01)"
	run "$bin" hgs add-node --dir "$w/restored-2" --from "$w/restored" --node-name HGS02
	ok $([ $RC -eq 0 ] && [ "$("$bin" hgs get-cluster --dir "$w/restored" --json | jq -r '[.[].Name] | join(",")')" = HGS01,HGS02 ]; echo $?) \
		"$tag: a node joins the restored one under a name the lost cluster had used (HGS02)"
	rm -rf "$w/restored" "$w/restored-2"
	run "$bin" hgs add-node --dir "$w/wrongpw" --node-name HGS04 --from-state "$w/state.hgsbak" \
		--store "${pg:-postgresql://127.0.0.1:1/hgs}" --password-file "$w/bad-pw.txt"
	ok $([ $RC -eq 2 ] && grep -q "wrong password" <<<"$ERR" && [ ! -e "$w/wrongpw" ] &&
		[ "$(leftovers "$w")" = 0 ]; echo $?) "$tag: add-node --from-state with a wrong password: exit 2, nothing left"
	run "$bin" hgs add-node --dir "$w/nostore" --node-name HGS04 --from-state "$w/state.hgsbak" \
		--password-file "$w/pw.txt"
	ok $([ $RC -eq 2 ] && grep -q -- "--store URI" <<<"$ERR" && [ ! -e "$w/nostore" ]; echo $?) \
		"$tag: add-node --from-state without --store: exit 2"
	run "$bin" hgs add-node --dir "$w/unreachable" --node-name HGS04 --from-state "$w/state.hgsbak" \
		--store postgresql://127.0.0.1:1/hgs --password-file "$w/pw.txt"
	ok $([ $RC -ne 0 ] && [ ! -e "$w/unreachable" ] && [ "$(leftovers "$w")" = 0 ]; echo $?) \
		"$tag: add-node --from-state with a store that cannot be opened fails, nothing left (rc $RC)"
	if [ "$kind" = pgsql ]; then
		run "$bin" hgs add-node --dir "$d3" --from-state "$w/state.hgsbak" --store "$pg" \
			--password-file "$w/pw.txt" --name HGS03 --json
		ok $([ $RC -eq 0 ] && jq -e '.NodeName == "HGS03" and .ClusterNodes == 3' <<<"$OUT" >/dev/null &&
			[ "$(cat "$d3/store")" = "$pg" ] &&
			cmp -s "$d1/keys/kps-encryption.key" "$d3/keys/kps-encryption.key"; echo $?) \
			"$tag: add-node HGS03 --from-state (another machine's way): the keys of the export, the URI"
	else
		run "$bin" hgs add-node --dir "$d3" --from "$d2" --name HGS03 --json
		ok $([ $RC -eq 0 ] && jq -e '.NodeName == "HGS03" and .ClusterNodes == 3' <<<"$OUT" >/dev/null; echo $?) \
			"$tag: add-node HGS03 --from HGS02 (--name), --json shows it in a cluster of 3"
	fi

	# ---- refusals: exit 2, nothing left ----
	run "$bin" hgs add-node --dir "$w/dup" --from "$d1" --node-name HGS02
	ok $([ $RC -eq 2 ] && grep -q "already has a node named 'HGS02'" <<<"$ERR" && [ ! -e "$w/dup" ] &&
		[ "$(leftovers "$w")" = 0 ]; echo $?) "$tag: add-node refuses a taken name (exit 2, nothing left)"
	run "$bin" hgs add-node --dir "$w/nofrom" --node-name HGS04
	ok $([ $RC -eq 2 ] && grep -q -- "--from NODEDIR" <<<"$ERR" && [ ! -e "$w/nofrom" ]; echo $?) \
		"$tag: add-node without --from is refused (exit 2)"
	mkdir "$w/target"
	ln -s "$w/target" "$w/link"
	run "$bin" hgs add-node --dir "$w/link" --from "$d1" --node-name HGS04
	ok $([ $RC -eq 2 ] && grep -q "symbolic link" <<<"$ERR" && [ -z "$(ls -A "$w/target")" ]; echo $?) \
		"$tag: add-node refuses a symbolically linked directory (exit 2, nothing written)"
	touch "$w/target/x"
	run "$bin" hgs add-node --dir "$w/target" --from "$d1" --node-name HGS04
	ok $([ $RC -eq 2 ] && grep -q "not empty" <<<"$ERR"; echo $?) "$tag: add-node refuses a non-empty directory (exit 2)"
	run "$bin" hgs add-node --dir "$w/bad" --from "$d1" --node-name "HGS_4"
	ok $([ $RC -eq 2 ] && [ ! -e "$w/bad" ]; echo $?) "$tag: add-node refuses an invalid node name (exit 2)"
	run "$bin" hgs get-cluster --dir "$d1" --json
	ok $([ $RC -eq 0 ] && [ "$(jq -r '[.[].Name] | join(",")' <<<"$OUT")" = HGS01,HGS02,HGS03 ] &&
		[ "$(leftovers "$w")" = 0 ] && pascal_keys <<<"$OUT"; echo $?) \
		"$tag: get-cluster --json: HGS01..03 and no refused name, PascalCase keys"

	# ---- AD mode's trusted domains are the cluster's (the store), not a node's ----
	"$bin" fabric new --dir "$w/fab" --domain fabrikam.com --listen "$net.9:0" >/dev/null 2>&1 &&
		"$bin" fabric export-trust --dir "$w/fab" --out "$w/trust.json" >/dev/null 2>&1
	run "$bin" hgs add-trusted-domain --dir "$d1" --file "$w/trust.json"
	ok $([ $RC -eq 0 ] && [ "$("$bin" hgs get-trusted-domain --dir "$d3" --json | jq -r '.[].Name')" = fabrikam.com ] &&
		[ ! -e "$d1/trusted-domains" ]; echo $?) \
		"$tag: a domain trusted through HGS01 is trusted at HGS03 (a row of the store, no file)"
	run "$bin" hgs remove-trusted-domain --dir "$d2" --domain fabrikam.com
	ok $([ $RC -eq 0 ] && [ "$("$bin" hgs get-trusted-domain --dir "$d1" --json | jq length)" = 0 ]; echo $?) \
		"$tag: removed through HGS02, it is gone at HGS01"
	# a node made before the trusts moved to the store kept them as files: moved in at the next open
	mkdir -p "$d1/trusted-domains"
	jq '. + {added: "2026-12-01T00:00:00Z"}' "$w/trust.json" >"$d1/trusted-domains/fabrikam.com.json"
	run "$bin" hgs get-trusted-domain --dir "$d1" --json
	ok $([ $RC -eq 0 ] && [ "$(jq -r '.[0].Name + " " + .[0].Added' <<<"$OUT")" = "fabrikam.com 2026-12-01T00:00:00Z" ] &&
		[ ! -e "$d1/trusted-domains" ] &&
		[ "$("$bin" hgs get-trusted-domain --dir "$d2" --json | jq -r '.[].Name')" = fabrikam.com ]; echo $?) \
		"$tag: an older node's trust file is moved into the store at the next open (the folder goes)"
	"$bin" hgs remove-trusted-domain --dir "$d1" --domain fabrikam.com >/dev/null

	# ---- the store file is checked ----
	chmod 644 "$d2/store"
	run "$bin" hgs get-server --dir "$d2"
	ok $([ $RC -ne 0 ] && grep -q "mode 0600" <<<"$ERR"; echo $?) "$tag: a store file readable by others is refused"
	chmod 600 "$d2/store"
	mv "$d2/store" "$w/store.real"
	ln -s "$w/store.real" "$d2/store"
	run "$bin" hgs get-server --dir "$d2"
	ok $([ $RC -ne 0 ] && grep -q "symbolic link" <<<"$ERR"; echo $?) "$tag: a store file that is a link is refused"
	rm "$d2/store"
	mv "$w/store.real" "$d2/store"

	# ---- registrations through one node's directory, seen by another ----
	run "$bin" hgs add-host-key --dir "$d1" --name FabricHost1 --key "$k/hk.pub"
	ok $RC "$tag: add-host-key FabricHost1 through HGS01's directory"
	run "$bin" hgs get-host-key --dir "$d3" --json
	ok $(jq -e 'length == 1 and .[0].Name == "FabricHost1"' <<<"$OUT" >/dev/null; echo $?) \
		"$tag: HGS03's directory sees the registration"
	run "$bin" hgs add-host-key --dir "$d3" --name FabricHost2 --key "$k/hk2.pub"
	ok $RC "$tag: add-host-key FabricHost2 through HGS03's directory"

	# ---- serve the three ----
	for i in 1 2 3; do
		if ! serve_node "S$i" "$bin" "$w/HGS0$i" "$net.$i"; then
			ok 1 "$tag: HGS0$i serves"; sed 's/^/# /' "$T/s$i.err"
			cleanup
			return
		fi
	done
	ok 0 "$tag: the three nodes serve ($S1_URL $S2_URL $S3_URL)"
	for i in 1 2 3; do
		local url="S${i}_URL"
		run curl -s -D "$T/h$i" "${!url}/Attestation/v1/info"
		ok $(grep -qi "^X-Hgs-Node: HGS0$i" "$T/h$i" && jq -e ".Node == \"HGS0$i\" and .name == \"MyHgsService\"" <<<"$OUT" >/dev/null; echo $?) \
			"$tag: HGS0$i answers with X-Hgs-Node: HGS0$i and \"Node\""
	done
	run curl -s -D "$T/h404" "$S2_URL/Attestation/v1/nosuch"
	ok $(grep -q '^HTTP/1.1 404' "$T/h404" && grep -qi '^X-Hgs-Node: HGS02' "$T/h404"; echo $?) \
		"$tag: the server's own answers (404) carry X-Hgs-Node too"
	run "$bin" hgs get-server --dir "$d3" --json
	ok $(jq -e '.NodeName == "HGS03" and .ClusterNodes == 3' <<<"$OUT" >/dev/null; echo $?) \
		"$tag: get-server shows the node's name and the cluster's node count"

	# ---- one nonce, three nodes ----
	n0=$(nonce "$S1_URL")
	body=$(attest_body FabricHost1 hk "$n0")
	attest "$S2_URL" "$body"
	ok $(jq -e '.status == "Passed" and .Node == "HGS02" and (.LogId | type) == "number"' <<<"$REPLY" >/dev/null; echo $?) \
		"$tag: a nonce from HGS01 is accepted at HGS02"
	hc=$(jq -r .health_certificate <<<"$REPLY")
	id=$(jq -r .LogId <<<"$REPLY")
	run "$bin" hgs get-attestation-log --dir "$d3" --json
	ok $(jq -e --argjson id "$id" '[.[] | select(.Id == $id)] | length == 1 and .[0].Status == "Passed" and .[0].Host == "FabricHost1"' \
		<<<"$OUT" >/dev/null; echo $?) "$tag: its LogId ($id) is the log entry of that attestation"
	attest "$S3_URL" "$body"
	ok $(jq -e '.status == "UnauthorizedHost" and (.reason | test("already used")) and .Node == "HGS03"' <<<"$REPLY" >/dev/null; echo $?) \
		"$tag: the same request at HGS03 is refused: already used"
	attest "$S1_URL" "$body"
	ok $(jq -e '.status == "UnauthorizedHost" and (.reason | test("already used"))' <<<"$REPLY" >/dev/null; echo $?) \
		"$tag: ... and at HGS01, which issued it"
	nonce "$S3_URL" | base64 -d >"$w/forged.bin"
	flip "$w/forged.bin" 20
	n0=$(base64 -w0 "$w/forged.bin")
	attest "$S2_URL" "$(attest_body FabricHost1 hk "$n0")"
	ok $(jq -e '.status == "UnauthorizedHost" and (.reason | test("not issued by this HGS"))' <<<"$REPLY" >/dev/null; echo $?) \
		"$tag: a forged nonce is refused: not issued by this HGS"
	attest "$S1_URL" "$(attest_body FabricHost2 hk2 "$(nonce "$S2_URL")")"
	ok $(jq -e '.status == "Passed" and .host == "FabricHost2"' <<<"$REPLY" >/dev/null; echo $?) \
		"$tag: FabricHost2, registered through HGS03's directory, passes at HGS01"

	# ---- a health certificate of HGS02 releases a key at HGS03 ----
	run "$bin" tenant new-guardian --dir "$w/tenant" --name Owner
	run "$bin" tenant import-guardian --dir "$w/tenant" --url "$S1_URL" --allow-untrusted-root
	run "$bin" tenant new-key-protector --dir "$w/tenant" --owner Owner --guardian MyHgsService --out "$w/vm.kp"
	ok $RC "$tag: a key protector for Owner and MyHgsService (tenant verbs)"
	REPLY=$(jq -cn --arg kp "$(base64 -w0 "$w/vm.kp")" --arg hc "$hc" '{key_protector: $kp, health_certificate: $hc}' |
		curl -s -D "$T/hk" -X POST --data-binary @- "$S3_URL/KeyProtection/v1/release")
	id=$(jq -r .LogId <<<"$REPLY")
	ok $(jq -e '.released == true and .Node == "HGS03" and (.LogId | type) == "number"' <<<"$REPLY" >/dev/null &&
		grep -qi '^X-Hgs-Node: HGS03' "$T/hk"; echo $?) "$tag: HGS03's KPS releases for a health certificate of HGS02"
	run "$bin" hgs get-key-protection-log --dir "$d1" --json
	ok $(jq -e --argjson id "$id" '[.[] | select(.Id == $id)] | length == 1 and .[0].Result == "Released"' \
		<<<"$OUT" >/dev/null; echo $?) "$tag: the release's LogId ($id) is its key protection log entry"

	# ---- all at once: registrations and attestations through the three nodes ----
	mark=$("$bin" hgs get-attestation-log --dir "$d1" --json | jq '[.[].Id] | max')
	for i in 1 2 3; do
		for j in 1 2 3; do
			local from="S${i}_URL" to="S$(((i + j) % 3 + 1))_URL"
			worker "${!from}" "${!to}" "$PER_WORKER" "$w/answers.$i.$j" &
			pids+=($!)
		done
		(for j in 1 2 3 4; do
			openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 2>/dev/null |
				openssl pkey -pubout -out "$w/reg.$i.$j.pub"
			"$bin" hgs add-host-key --dir "$w/HGS0$i" --name "Reg$i-$j" --key "$w/reg.$i.$j.pub" >/dev/null ||
				echo "Reg$i-$j" >>"$w/reg.failed"
		done) &
		pids+=($!)
	done
	wait "${pids[@]}"
	expected=$((9 * PER_WORKER))
	cat "$w"/answers.* >"$w/answers"
	ids=$(cut -d' ' -f1 "$w/answers" | sort -n)
	ok $([ "$(wc -l <"$w/answers")" -eq "$expected" ] &&
		[ "$(grep -c ' Passed$' "$w/answers")" -eq "$expected" ]; echo $?) \
		"$tag: $expected attestations at once through the three nodes: all Passed"
	ok $([ "$(sort -u <<<"$ids" | wc -l)" -eq "$expected" ] && ! grep -qv '^[0-9][0-9]*$' <<<"$ids"; echo $?) \
		"$tag: each answer has its own LogId"
	got=$("$bin" hgs get-attestation-log --dir "$d2" --json | jq -r --argjson m "$mark" '.[] | select(.Id > $m) | .Id' | sort -n)
	ok $([ "$got" = "$ids" ]; echo $?) \
		"$tag: the log holds exactly those entries: every LogId once, none missing, none more"
	run "$bin" hgs get-host-key --dir "$d2" --json
	ok $([ ! -e "$w/reg.failed" ] && [ "$(jq '[.[] | select(.Name | startswith("Reg"))] | length' <<<"$OUT")" = 12 ]; echo $?) \
		"$tag: 12 registrations made at once through the three directories: all there"

	# ---- get-cluster: Up, Down ----
	run "$bin" hgs get-cluster --dir "$d2"
	ok $([ "$(grep -cE '^HGS0[123] +127\.[0-9.]+:[0-9]+ +Up ' <<<"$OUT")" = 3 ]; echo $?) \
		"$tag: get-cluster: three nodes Up with their addresses"
	kill -KILL "$S3_PID"
	wait "$S3_PID" 2>/dev/null
	ok $(wait_state "$bin" "$d1" HGS03 Down && [ "$(node_state "$bin" "$d1" HGS01)" = Up ] &&
		[ "$(node_state "$bin" "$d1" HGS02)" = Up ]; echo $?) \
		"$tag: HGS03 killed with SIGKILL shows Down within seconds, the others Up"
	stop_bg S3
	attest "$S2_URL" "$(attest_body FabricHost1 hk "$(nonce "$S1_URL")")"
	ok $(jq -e '.status == "Passed"' <<<"$REPLY" >/dev/null; echo $?) "$tag: the two others still attest"
	stop_bg S1 TERM
	ok $([ "$STOP_RC" = 0 ] && [ "$(node_state "$bin" "$d2" HGS01)" = Down ]; echo $?) \
		"$tag: HGS01 stopped with SIGTERM (exit 0) shows Down at once"
	stop_bg S2 TERM

	# ---- clear-server: a joined node leaves the registry; the store's own node goes last ----
	run "$bin" hgs clear-server --dir "$d3" --force
	ok $([ $RC -eq 0 ] && [ ! -e "$d3" ] &&
		[ "$("$bin" hgs get-cluster --dir "$d1" --json | jq -r '[.[].Name] | join(",")')" = HGS01,HGS02 ]; echo $?) \
		"$tag: clear-server of HGS03 removes its folder and its row of the registry"
	if [ "$kind" = sqlite ]; then
		run "$bin" hgs clear-server --dir "$d1" --force
		ok $([ $RC -eq 4 ] && [ -f "$d1/hgs.db" ] && grep -q 'other node of the cluster' <<<"$ERR" &&
			[ "$(leftovers "$w")" = 0 ]; echo $?) \
			"$tag: clear-server of HGS01, whose folder holds the cluster's hgs.db, is refused while HGS02 uses it (exit 4, nothing removed)"
		run "$bin" hgs clear-server --dir "$d2" --force
		run "$bin" hgs clear-server --dir "$d1" --force
		ok $([ $RC -eq 0 ] && [ ! -e "$d1" ]; echo $?) "$tag: once HGS02 is cleared, HGS01 goes too"
	fi
	if [ -n "$pg" ]; then
		run "$bin" pgsql stop --dir "$w/pg"
		ok $RC "$tag: pgsql stop"
	fi
}

# suite BIN: the suite on SQLite, then on PostgreSQL when BIN has `pgsql`.
suite() {
	cluster_suite "$1" sqlite
	if "$1" pgsql --help >/dev/null 2>&1; then
		cluster_suite "$1" pgsql
	else
		echo "# $1 has no 'pgsql' verb: the PostgreSQL run of this suite did not run (not counted)"
	fi
}

each_binary suite
done_testing
