#!/usr/bin/env bash
# scenarios.sh - the scenario runner end to end (`hgslab run`, `demo`, `up`,
# `status`, `down`) with real processes: every scenario of the library in
# scenarios/ passes (TAP, JUnit and JSON reports agree); broken files (bad
# indentation, unknown key, unknown host in a step) exit 2 with
# file:line:column and start nothing; a wrong expectation fails (exit 6)
# saying which step, what was expected and what happened; SIGINT in the
# middle of a VM boot stops everything (exit 130, no process left, no lab
# left, the next scenario's fabric brought up meanwhile included); `up` leaves a fabric running that `status` shows and `down` stops.
# Needs `make guest` for the VM scenarios.
. "$(dirname "$0")/lib.sh"

ROOT=${HGSLAB_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
: "${HGSLAB_GUEST_DIR:=$ROOT/build/guest}"
export HGSLAB_GUEST_DIR
B=$HGSLAB
LIB="$ROOT/scenarios"

require swtpm swtpm_setup qemu-system-x86_64 jq xmllint
require_guest "$HGSLAB_GUEST_DIR"

# lab_procs DIR: processes whose command line names DIR (this shell excepted).
lab_procs() { pgrep -af "$1" | grep -v -e "^$$ " -e pgrep || true; }

cleanup() {
	local p
	for p in $(pgrep -f "$T" 2>/dev/null); do
		[ "$p" = "$$" ] || kill -KILL "$p" 2>/dev/null
	done
}
trap 'cleanup; rm -rf "$T"' EXIT

# ---- the command line ----
run "$B" run --help
ok $([ $RC -eq 0 ] && grep -q -- '--report FORMAT' <<<"$OUT" && grep -q -- '--keyword' <<<"$OUT" &&
	grep -q 'file:line:column' <<<"$OUT"; echo $?) "run --help explains the options and the exit codes"
run "$B" run
ok $([ $RC -eq 2 ] && grep -q 'scenario FILE' <<<"$ERR"; echo $?) "run without a file: usage, exit 2"
run "$B" run --check "$LIB"/*.yaml
n_lib=$(ls "$LIB"/*.yaml | wc -l)
ok $([ $RC -eq 0 ] && [ "$(grep -c ': valid (' <<<"$OUT")" -eq "$n_lib" ] && [ "$n_lib" -ge 18 ]; echo $?) \
	"run --check: all $n_lib library scenarios are valid"
run "$B" run --report yaml "$LIB/tampered-debug.yaml"
ok $([ $RC -eq 2 ] && grep -q "junit" <<<"$ERR"; echo $?) "an unknown --report format: exit 2, naming the formats"

# ---- broken files: file:line:column, exit 2, nothing started ----
mkdir -p "$T/bad"
cat >"$T/bad/indent.yaml" <<'EOF'
version: 1
name: bad-indent
description: bad indentation
hgs: { name: MyHgsService, domain: relecloud.com, trust: tpm }
hosts:
  - name: FabricHost1
   profile: baseline
steps:
  - attest: { host: FabricHost1 }
EOF
sed -e 's/^name: bad-indent/name: unknown-key/' -e 's/^hosts:/hots:/' -e 's/^   profile/    profile/' \
	"$T/bad/indent.yaml" >"$T/bad/key.yaml"
sed -e 's/^name: bad-indent/name: unknown-host/' -e 's/^   profile/    profile/' \
	-e 's/attest: { host: FabricHost1 }/attest: { host: FabricHost3 }/' "$T/bad/indent.yaml" >"$T/bad/host.yaml"
run "$B" run --workdir "$T/bad-lab" "$T/bad/indent.yaml"
ok $([ $RC -eq 2 ] && grep -qE "indent.yaml:7:[0-9]+: " <<<"$ERR" && [ ! -e "$T/bad-lab" ]; echo $?) \
	"bad indentation: file:line:column, exit 2, no lab made"
sed 's/^/# /' <<<"$ERR"
run "$B" run --workdir "$T/bad-lab" "$T/bad/key.yaml"
ok $([ $RC -eq 2 ] && grep -q "key.yaml:5:1: unknown key 'hots'" <<<"$ERR" &&
	grep -q "did you mean 'hosts'" <<<"$ERR" && [ ! -e "$T/bad-lab" ]; echo $?) \
	"unknown key 'hots': file:line:column and 'did you mean hosts', exit 2"
sed 's/^/# /' <<<"$ERR"
run "$B" run --workdir "$T/bad-lab" "$T/bad/host.yaml" "$LIB/tampered-debug.yaml"
ok $([ $RC -eq 2 ] && grep -qE "host.yaml:9:[0-9]+: .*FabricHost3.*did you mean 'FabricHost1'" <<<"$ERR" &&
	[ ! -e "$T/bad-lab" ] && [ -z "$(lab_procs "$T/bad-lab")" ]; echo $?) \
	"unknown host in a step: file:line:column with the nearest host; a valid file beside it is not run either"
sed 's/^/# /' <<<"$ERR"

# ---- a wrong expectation ----
sed -e 's/^name: tampered-debug/name: wrong-expectation/' \
	-e 's/expect: InsecureHostConfiguration, substatus: \[DebugMode\]/expect: Passed/' \
	"$LIB/tampered-debug.yaml" >"$T/wrong.yaml"
run "$B" run --workdir "$T/wrong-lab" --report json --out "$T/wrong.json" "$T/wrong.yaml"
ok $([ $RC -eq 6 ] && grep -q "step 4 (attest FabricHost1): expected Passed" <<<"$OUT" &&
	jq -e '.Scenarios[0].Steps[3] | (.Passed | not) and .Line == 13 and
		(.Message | startswith("step 4 (attest FabricHost1): expected Passed, got InsecureHostConfiguration (DebugMode)"))' \
		"$T/wrong.json" >/dev/null &&
	grep -q "wrong-expectation: 5 of 6 steps passed" <<<"$OUT" && [ -d "$T/wrong-lab/wrong-expectation/logs" ] &&
	[ -z "$(lab_procs "$T/wrong-lab")" ]; echo $?) \
	"a wrong expectation: exit 6, names step 4, expected Passed, got InsecureHostConfiguration (DebugMode); lab kept, no process left"
grep -E "step 4|steps passed" <<<"$OUT" | sed 's/^/# /'

# ---- the whole library, with the three machine reports ----
# The HGS cluster's lessons (hgs-cluster-*, hgs-outage-*, hgs-restore-*) are played by
# tests/cli/scenarios_cluster.sh beside this program (tests/run.sh runs two at once); the two
# together cover every file of the library.
mapfile -t main_lib < <(ls "$LIB"/*.yaml | grep -v -E '/hgs-(cluster|outage|restore)-[^/]*\.yaml$')
n_cluster=$(ls "$LIB"/*.yaml | grep -c -E '/hgs-(cluster|outage|restore)-[^/]*\.yaml$')
ok $([ $((${#main_lib[@]} + n_cluster)) -eq "$n_lib" ] && [ "$n_cluster" -ge 5 ]; echo $?) \
	"the library is ${#main_lib[@]} scenarios played here and $n_cluster by scenarios_cluster.sh"
t0=$(date +%s)
"$B" run --workdir "$T/lib" --report json --out "$T/lib.json" "${main_lib[@]}" >"$T/lib.human" 2>"$T/lib.err"
rc=$?
secs=$(($(date +%s) - t0))
ok $(pascal_keys "$T/lib.json"; echo $?) "run --report json: PascalCase keys only"
n_pass=$(jq '[.Scenarios[] | select(.Passed)] | length' "$T/lib.json" 2>/dev/null)
ok $([ $rc -eq 0 ] && [ "$n_pass" = "${#main_lib[@]}" ]; echo $?) \
	"every library scenario passes ($n_pass of ${#main_lib[@]}, ${secs} s)"
if [ $rc -ne 0 ]; then
	grep -E "✗|FAIL|ERROR|line [0-9]+:" "$T/lib.human" | head -n 30 | sed 's/^/# /'
	tail -n 5 "$T/lib.err" | sed 's/^/# /'
fi
jq -r '.Scenarios[] | "# \(.Name): \(.Steps | length) steps, \(.DurationSeconds * 10 | floor / 10) s"' "$T/lib.json" 2>/dev/null
ok $([ -z "$(lab_procs "$T/lib")" ] && [ -z "$(ls -A "$T/lib" 2>/dev/null)" ]; echo $?) \
	"after the library: no process left, every passed lab removed"
for s in "${main_lib[@]}"; do
	name=$(basename "$s" .yaml)
	jq -e --arg n "$name" '.Scenarios[] | select(.Name == $n) | .Passed and (.Steps | length > 0) and
		all(.Steps[]; .Passed and (.DurationSeconds >= 0) and (.Concept | length > 0))' "$T/lib.json" >/dev/null
	ok $? "scenario $name: every step passed and explains itself"
done

# The article walkthrough: the shielded VM runs on FabricHost1 with the secret's hash, is refused on FabricHost2.
want=$(printf '%s' "tenant secret 42" | sha256sum | cut -c1-64)
ok $(jq -e --arg w "secret.txt=$want" '.Scenarios[] | select(.Name == "article-walkthrough") |
	(.Steps[5].Got == "running") and (.Steps[5].Reason | contains($w)) and (.Steps[6].Got == "refused") and
	(.Steps[6].Substatus == "DebugMode") and (.Steps[8].Got == "unreadable")' "$T/lib.json" >/dev/null; echo $?) \
	"article-walkthrough: running on FabricHost1 with the SHA-256 of secret.txt, refused on FabricHost2 (DebugMode), unreadable offline"

# The article's second half: VMM skips the debug host, Web01 runs on FabricHost1 named by the .fsk.
ok $(jq -e '.Scenarios[] | select(.Name == "article-vmm") | (.Steps[4].Kind == "deploy") and
	(.Steps[4].Got == "running") and (.Steps[4].Reason | startswith("on FabricHost1, computer name Web01;")) and
	(.Steps[4].Reason | contains("skipped FabricHost2: InsecureHostConfiguration (DebugMode)")) and
	(.Steps[6].Got == "unreadable") and (.Steps[7].Got == "absent")' "$T/lib.json" >/dev/null; echo $?) \
	"article-vmm: FabricHost2 skipped (DebugMode), Web01 runs on FabricHost1 with computer name Web01, unreadable offline, the answer file's secret in no lab file"
# The answer file reached the guest (its SHA-256, specialized, in the workload) and no file of the lab.
want=$(printf 'AdminPassword=Answer-S3cret-4711\nComputerName=Web02\n' | sha256sum | cut -c1-64)
ok $(jq -e --arg w ".hgslab/unattend.txt=$want" '.Scenarios[] | select(.Name == "answer-file-secret") |
	(.Steps[3].Reason | contains($w)) and ([.Steps[] | select(.Kind == "secret_scan") | .Got] ==
	["absent", "absent", "absent", "absent", "present"])' "$T/lib.json" >/dev/null; echo $?) \
	"answer-file-secret: the guest holds the specialized answer file (its SHA-256), the secrets are in no lab file, the template's plaintext is"
# The refusals name their reasons, and each host's.
ok $(jq -e '[.Scenarios[] | select(.Name | test("^(template-altered|template-version-rule|template-signer-untrusted|pdk-other-fabric|cloud-no-healthy-host)$")) |
	.Steps[] | select(.Kind == "deploy") | .Got] == ["refused", "refused", "refused", "refused", "refused"]' "$T/lib.json" >/dev/null &&
	jq -e '.Scenarios[] | select(.Name == "cloud-no-healthy-host") | .Steps[4].Reason |
	contains("FabricHost2: InsecureHostConfiguration (DebugMode); FabricHost3: InsecureHostConfiguration (Iommu); FabricHost1: InsecureHostConfiguration (SecureBoot")' \
	"$T/lib.json" >/dev/null; echo $?) \
	"the template and cloud refusals: every deploy refused; cloud-no-healthy-host names each host's reason"

# TAP and JUnit of a failing + passing pair
"$B" run --workdir "$T/rep" --report tap --out "$T/r.tap" "$LIB/tampered-iommu-off.yaml" "$T/wrong.yaml" >/dev/null 2>&1
rc=$?
ok $([ $rc -eq 6 ] && grep -q '^1\.\.12$' "$T/r.tap" && [ "$(grep -c '^ok ' "$T/r.tap")" -eq 11 ] &&
	grep -q '^not ok [0-9]* - wrong-expectation' "$T/r.tap"; echo $?) "TAP report: 12 steps, 11 ok, the wrong expectation not ok"
"$B" run --workdir "$T/rep2" --report junit --out "$T/r.xml" "$LIB/tampered-iommu-off.yaml" "$T/wrong.yaml" >/dev/null 2>&1
ok $(xmllint --noout "$T/r.xml" 2>/dev/null &&
	[ "$(xmllint --xpath 'count(//testsuite)' "$T/r.xml")" = 2 ] &&
	[ "$(xmllint --xpath 'count(//testcase)' "$T/r.xml")" = 12 ] &&
	[ "$(xmllint --xpath 'count(//testcase/failure)' "$T/r.xml")" = 1 ]; echo $?) \
	"JUnit report: well-formed, 2 suites, 12 cases, 1 failure"

# ---- SIGINT during a VM boot: everything stops ----
# (a second scenario after it: its fabric comes up meanwhile, and must go too)
"$B" run --workdir "$T/int" "$LIB/article-walkthrough.yaml" "$LIB/hostkey-mode.yaml" >"$T/int.out" 2>"$T/int.err" &
RPID=$!
qemu=""
for _ in $(seq 1 1200); do
	qemu=$(pgrep -f "qemu-system-x86_64.*$T/int" | head -n1)
	[ -n "$qemu" ] && break
	kill -0 $RPID 2>/dev/null || break
	sleep 0.1
done
[ -n "$qemu" ] && sleep 1
kill -INT $RPID 2>/dev/null
wait $RPID
rc=$?
sleep 0.5
left=$(lab_procs "$T/int")
ok $([ -n "$qemu" ] && [ $rc -eq 130 ] && [ -z "$left" ] && [ ! -e "$T/int/article-walkthrough" ] &&
	[ ! -e "$T/int/hostkey-mode" ]; echo $?) \
	"SIGINT while the VM provisions: exit 130, no process of the run left, the lab and the next scenario's (brought up meanwhile) removed"
[ -n "$left" ] && sed 's/^/# left: /' <<<"$left"
grep -i "interrupt" "$T/int.out" "$T/int.err" | head -n 3 | sed 's/^/# /'

# ---- up / status / down ----
run "$B" up --workdir "$T/up" "$LIB/hostkey-mode.yaml" --play
ok $([ $RC -eq 0 ] && grep -q "http://hgs.relecloud.com:" <<<"$OUT" && grep -q "hgslab down" <<<"$OUT" &&
	[ -n "$(lab_procs "$T/up")" ]; echo $?) "up --play: the fabric is up and left running, with its URLs and commands"
run "$B" status --workdir "$T/up" --json
ok $([ $RC -eq 0 ] && jq -e '[.[] | select(.Kind == "HGS" and .State == "Running")] | length == 1' <<<"$OUT" >/dev/null &&
	jq -e '.[] | select(.Kind == "Host" and .Name == "FabricHost2") | .State == "Running" and (.Health | startswith("UnauthorizedHost"))' <<<"$OUT" >/dev/null; echo $?) \
	"status: HGS running, FabricHost2 running and UnauthorizedHost"
run "$B" up --workdir "$T/up" "$LIB/hostkey-mode.yaml"
ok $([ $RC -eq 1 ] && grep -q "already up" <<<"$ERR"; echo $?) "a second up on the same lab is refused"
run "$B" down --workdir "$T/up"
sleep 0.3
ok $([ $RC -eq 0 ] && [ -z "$(lab_procs "$T/up")" ] && [ ! -e "$T/up" ]; echo $?) "down: every process stopped, the lab removed"
run "$B" up --workdir "$T/up2" "$LIB/template-version-rule.yaml"
ok $([ $RC -eq 0 ] && grep -q "fabric controller" <<<"$OUT" && grep -q "hgslab vmm deploy --dir $T/up2/vmm --cloud Cloud1" <<<"$OUT"; echo $?) \
	"up of a scenario with clouds: the fabric controller's folder and the vmm commands to try"
run "$B" status --workdir "$T/up2" --json
ok $([ $RC -eq 0 ] && jq -e '.[] | select(.Kind == "Cloud") | .Name == "Cloud1" and .Detail == "FabricHost1"' <<<"$OUT" >/dev/null; echo $?) \
	"status: the cloud Cloud1 and its host"
run "$B" down --workdir "$T/up2"
ok $([ $RC -eq 0 ] && [ -z "$(lab_procs "$T/up2")" ]; echo $?) "down: the fabric with clouds stopped"
run "$B" status --workdir "$T/up"
ok $([ $RC -eq 1 ] && grep -q "no fabric is up" <<<"$ERR"; echo $?) "status after down: nothing is up"

# ---- the sanitizer build on two scenarios ----
if [ -n "${HGSLAB_ASAN:-}" ] && built "$HGSLAB_ASAN"; then
	run "$HGSLAB_ASAN" run --workdir "$T/asan" "$LIB/hgs-restart.yaml" "$LIB/ad-mode.yaml"
	ok $([ $RC -eq 0 ] && ! grep -q "ERROR: AddressSanitizer\|runtime error" <<<"$ERR$OUT"; echo $?) \
		"ASan build: hgs-restart and ad-mode pass, no sanitizer report"
fi

ok $([ -z "$(lab_procs "$T")" ]; echo $?) "no process of this test is left"
done_testing
