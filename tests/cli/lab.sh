# lab.sh - what the black-box tests in tests/cli/ that run a lab share:
# background processes read line by line through a fifo (readiness from
# their own output, never a sleep), `hgs serve` started and its URL read, key
# protectors read independently with openssl and jq (docs/key-protector.md),
# a secret looked for in files, command lines and environments (raw, hex,
# base64), the TK looked for in every file, the shielded VMs' helpers (timing,
# the lab's processes, stopping VM keepers), and the TPM-mode lab that
# kps_e2e.sh, shielded_vm.sh and provision.sh start from.
#
# Source it after lib.sh.  It keeps every background process it starts in
# BG_PIDS and sets the EXIT trap to stop them (by pid) and remove $T; a test
# that stops more on exit sets its own trap that calls `cleanup`.  Not a test
# itself: tests/run.sh skips it.

START=$(date +%s.%N)
BG_PIDS=()

# elapsed: seconds since START, one decimal.
elapsed() { awk -v s="$START" -v e="$(date +%s.%N)" 'BEGIN { printf "%.1f", e - s }'; }
# mark LABEL: a TAP comment with the time so far.
mark() { echo "# [$(elapsed) s] $1"; }

# start_bg VAR CMD...: run CMD in the background, its stdout readable line by
# line through a fifo (fd in ${VAR}_FD), its stderr in $T/var.err (VAR in
# lower case), its pid in ${VAR}_PID.
start_bg() {
	local var=$1 fifo fd pid
	shift
	fifo="$T/fifo.$var.$RANDOM"
	mkfifo "$fifo"
	"$@" >"$fifo" 2>"$T/${var,,}.err" &
	pid=$!
	exec {fd}<"$fifo"
	rm -f "$fifo"
	printf -v "${var}_PID" '%s' "$pid"
	printf -v "${var}_FD" '%s' "$fd"
	BG_PIDS+=("$pid")
}

# next_line VAR [SECONDS]: the next stdout line of background process VAR into LINE (30 s at most).
next_line() {
	local fdvar="${1}_FD"
	LINE=""
	read -r -t "${2:-30}" LINE <&"${!fdvar}"
}

# stop_bg VAR [SIGNAL]: send SIGNAL (TERM), wait; its exit status in STOP_RC.
stop_bg() {
	local pidvar="${1}_PID" fdvar="${1}_FD" p keep=()
	STOP_RC=-1
	if [ -n "${!pidvar:-}" ]; then
		kill -"${2:-TERM}" "${!pidvar}" 2>/dev/null
		wait "${!pidvar}" 2>/dev/null
		STOP_RC=$?
		for p in "${BG_PIDS[@]}"; do
			[ "$p" = "${!pidvar}" ] || keep+=("$p")
		done
		BG_PIDS=(${keep[@]+"${keep[@]}"})
		printf -v "$pidvar" '%s' ""
	fi
	if [ -n "${!fdvar:-}" ]; then
		eval "exec ${!fdvar}<&-"
		printf -v "$fdvar" '%s' ""
	fi
}

# cleanup: stop every background process still running, by pid.
cleanup() {
	local p
	for p in ${BG_PIDS[@]+"${BG_PIDS[@]}"}; do
		kill -TERM "$p" 2>/dev/null
	done
	for p in ${BG_PIDS[@]+"${BG_PIDS[@]}"}; do
		wait "$p" 2>/dev/null
	done
	BG_PIDS=()
}
trap 'cleanup; rm -rf "$T"' EXIT

# serve_url VAR LINE [NAME]: the URL of an `hgs serve` readiness line (of HGS
# NAME, any name by default) into VAR_URL and VAR_PORT; false when LINE is not one.
serve_url() {
	local url
	url=$(sed -n "s/^hgs: serving ${3:-[^ ]*} on \(http:[^ ]*\)\$/\1/p" <<<"$2")
	printf -v "${1}_URL" '%s' "$url"
	printf -v "${1}_PORT" '%s' "${url##*:}"
	[ -n "$url" ]
}

# start_hgs VAR BIN DIR [NAME]: start `BIN hgs serve --dir DIR` as background
# process VAR and read its readiness line (into LINE, 60 s at most); its URL in
# VAR_URL and VAR_PORT.  False when no readiness line (of HGS NAME) came.
start_hgs() {
	start_bg "$1" "$2" hgs serve --dir "$3"
	next_line "$1" 60
	serve_url "$1" "$LINE" "${4:-}"
}

# field NAME: the Format-List value of NAME in $OUT.
field() { sed -n "s/^$1 *: \(.*\)\$/\1/p" <<<"$OUT" | head -n1; }

# ---- key protectors, read with openssl and jq as docs/key-protector.md defines them ----

KP_LABEL=4847534C41422D4B5000   # the OAEP label "HGSLAB-KP" + NUL, in hex

# thumb PEM_FILE: SHA-256 of the certificate's DER, uppercase hex.
thumb() { openssl x509 -in "$1" -outform DER | sha256sum | cut -c1-64 | tr a-f A-F; }

# kp_body FILE: the decoded body of key protector FILE (JSON text).
kp_body() { jq -r .body "$1" | base64 -d; }

# kp_open FILE INDEX KEY: entry INDEX's TK opened with private KEY (openssl), as hex on stdout.
kp_open() {
	kp_body "$1" | jq -r ".guardians[$2].wrapped_tk" | base64 -d |
		openssl pkeyutl -decrypt -inkey "$3" -pkeyopt rsa_padding_mode:oaep \
			-pkeyopt rsa_oaep_md:sha256 -pkeyopt rsa_mgf1_md:sha256 \
			-pkeyopt rsa_oaep_label:"$KP_LABEL" 2>/dev/null | xxd -p -c 64
}

# fp_of TK_HEX: the TK fingerprint as docs/key-protector.md defines it.
fp_of() { { printf 'hgslab-kp-tk-fingerprint-v1\0'; printf %s "$1" | xxd -r -p; } | sha256sum | cut -c1-64 | tr a-f A-F; }

# ---- a secret (a TK) looked for in files, command lines and environments ----

# patterns HEX: a secret as text, one form a line on stdout (a pipe): lower
# and upper hex, and base64 at each of the three byte alignments a longer
# encoding could put it at (the characters that depend on neighbouring bytes
# dropped).  Only builtins see HEX: it reaches no command line.
patterns() {
	local hex=$1 k b
	printf '%s\n%s\n' "$hex" "${hex^^}"
	for k in 0 1 2; do
		b=$({ head -c "$k" /dev/zero; printf %s "$hex" | xxd -r -p; } | base64 -w0)
		printf '%s\n' "${b:4:$((${#b} - 8))}"
	done
}

# holds FILE HEX: 0 when FILE holds the secret raw (its bytes), as hex or as base64.
holds() {
	tr -d '\r\n' <"$1" 2>/dev/null | grep -qaF -f <(patterns "$2") ||
		od -An -v -tx1 "$1" 2>/dev/null | tr -d ' \n' | grep -qaF -f <(printf '%s\n' "$2")
}

# scan_files HEX DIR...: print each file under the DIRs that holds the secret; 0 when none does.
scan_files() {
	local hex=$1 f rc=0
	shift
	while IFS= read -r -d '' f; do
		if holds "$f" "$hex"; then
			echo "# the secret is in $f"
			rc=1
		fi
	done < <(find "$@" -type f -print0 2>/dev/null)
	return $rc
}

# scan_procs HEX PID...: print each process whose command line or environment
# holds the secret; 0 when none does.  SCANNED gets how many were read.
scan_procs() {
	local hex=$1 p f rc=0
	shift
	SCANNED=0
	for p in "$@"; do
		[ -r "/proc/$p/environ" ] || continue
		SCANNED=$((SCANNED + 1))
		for f in cmdline environ; do
			if holds "/proc/$p/$f" "$hex"; then
				echo "# the secret is in /proc/$p/$f ($(tr '\0' ' ' <"/proc/$p/cmdline" | cut -c1-80))"
				rc=1
			fi
		done
	done
	return $rc
}

# tk_nowhere HEX DIR: 0 when the TK HEX is in no file under DIR, as hex in any file and raw in
# every file under 1 MiB (all but the disks); each file that holds it is printed.
tk_nowhere() {
	local hex=$1 f leak=0
	while IFS= read -r -d '' f; do
		grep -qiF "$hex" "$f" && { leak=1; echo "# the TK (hex) is in $f"; }
		if [ "$(stat -c %s "$f")" -lt 1048576 ]; then
			od -An -v -tx1 "$f" | tr -d ' \n' | grep -qF "$hex" && { leak=1; echo "# the TK is in $f"; }
		fi
	done < <(find "$2" -type f -print0)
	return $leak
}

# ---- shielded VMs of the lab's hosts ----

# since T0: seconds since T0 (date +%s.%N), one decimal.
since() { awk -v s="$1" -v e="$(date +%s.%N)" 'BEGIN { printf "%.1f", e - s }'; }

# lab_pids: the processes whose command line names the test directory, this shell excepted.
lab_pids() { pgrep -f "$T" | grep -vx "$$" || true; }

# stop_keepers: stop the VMs' keepers (by the pid each VM's state names, when it is ours).
# A test that starts VMs sets: trap 'stop_keepers; cleanup; rm -rf "$T"' EXIT
stop_keepers() {
	local p f
	for f in "$T"/lab/hosts/*/vms/*/state.json; do
		[ -f "$f" ] || continue
		p=$(jq -r '.keeper_pid // 0' "$f" 2>/dev/null)
		[ "${p:-0}" -gt 0 ] && grep -qF "$T" "/proc/$p/cmdline" 2>/dev/null && kill -TERM "$p"
	done
}

# ---- the TPM-mode lab ----

# lab_net N: loopback addresses of their own for this run into NET (127.A.B; hosts use NET.1 ...).
lab_net() { NET="127.$((($$ + $1 * 7) % 200 + 30)).$((RANDOM % 250 + 1))"; }

# lab_tpm B W: the TPM-mode lab, each step a case: in W, hosts FabricHost1
# (baseline) and FabricHost2 (debug=on) whose TPMs share the lab's vendor CA,
# HGS MyHgsService in TPM mode serving on its own address (background process
# HGS), both hosts registered by EK with FabricHost1's TCG log and CI policy as
# the baseline, and both pointed at it.  Sets NET, A_ADDR H1_ADDR H2_ADDR
# (NET.1-3; NET.4 and up are free), H1 H2 VENDOR A (the node), URL, RESOLVE, KPURL.
lab_tpm() {
	local h rc
	B=$1 W=$2
	mkdir -p "$W"
	lab_net 0
	A_ADDR=$NET.1 H1_ADDR=$NET.2 H2_ADDR=$NET.3
	H1="$W/hosts/h1" H2="$W/hosts/h2" VENDOR="$W/hosts/tpm-vendor" A="$W/hgs"

	run "$B" host new --dir "$H1" --name FabricHost1 --domain fabrikam.com --listen "$H1_ADDR"
	ok $RC "host new FabricHost1 (baseline)"
	run "$B" host new --dir "$H2" --name FabricHost2 --domain fabrikam.com --listen "$H2_ADDR" \
		--profile baseline,debug=on
	ok $RC "host new FabricHost2 (debug=on), same TPM vendor CA"
	run "$B" hgs init --dir "$A" --name MyHgsService --domain relecloud.com --trust tpm \
		--listen "$A_ADDR:0" --tpm-vendor-ca "$VENDOR/vendor-ca-cert.pem"
	ok $RC "hgs init MyHgsService in TPM mode"
	start_hgs HGS "$B" "$A"
	ok $? "hgs serve is ready: $LINE"
	URL="http://hgs.relecloud.com:$HGS_PORT"
	RESOLVE="hgs.relecloud.com:$HGS_PORT:$A_ADDR"
	KPURL="$URL/KeyProtection"

	"$B" host get-platform-identifier --dir "$H1" --out "$W/h1.pid.json" >/dev/null &&
		"$B" host get-platform-identifier --dir "$H2" --out "$W/h2.pid.json" >/dev/null &&
		"$B" host get-baseline-policy --dir "$H1" --out "$W/h1.tcglog" >/dev/null &&
		"$B" host get-ci-policy --dir "$H1" --out "$W/h1.ci" >/dev/null &&
		"$B" hgs add-tpm-host --dir "$A" --name FabricHost1 --platform-identifier "$W/h1.pid.json" >/dev/null &&
		"$B" hgs add-tpm-host --dir "$A" --name FabricHost2 --platform-identifier "$W/h2.pid.json" >/dev/null &&
		"$B" hgs add-tpm-policy --dir "$A" --name Baseline --tcglog "$W/h1.tcglog" >/dev/null &&
		"$B" hgs add-ci-policy --dir "$A" --name HgsLabDefault --policy "$W/h1.ci" >/dev/null
	ok $? "both hosts registered by EK; FabricHost1's TCG log and CI policy are the baseline"
	rc=0
	for h in "$H1" "$H2"; do
		"$B" host set-client-configuration --dir "$h" --attestation-url "$URL/Attestation" \
			--key-protection-url "$KPURL" --resolve "$RESOLVE" >/dev/null || rc=1
	done
	ok $rc "set-client-configuration on both hosts (hgs.relecloud.com resolved to $A_ADDR)"
}

# lab_tenant TEN KP: after lab_tpm, the tenant in TEN, each step a case: guardian
# Owner, MyHgsService imported from the served metadata, key protector KP for both.
lab_tenant() {
	run "$B" tenant new-guardian --dir "$1" --name Owner
	ok $RC "tenant new-guardian Owner"
	run "$B" tenant import-guardian --dir "$1" --url "$URL" --resolve "$RESOLVE" --allow-untrusted-root
	ok $RC "tenant import-guardian MyHgsService from the served metadata"
	run "$B" tenant new-key-protector --dir "$1" --owner Owner --guardian MyHgsService --out "$2"
	ok $RC "tenant new-key-protector --owner Owner --guardian MyHgsService"
}
