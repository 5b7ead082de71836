#!/usr/bin/env bash
# tpm_state.sh - hosts whose TPMs come from the factory made: a scenario lab
# on an empty TPM state cache fills it (its progress shown) and its hosts
# adopt states 0 and 1 (`host new --tpm-state`), each its own EK, and attest
# Passed; a second run takes them as they are and writes nothing into the
# cache; a cached state that lost a file is made again; while another run
# holds the cache the lab manufactures its TPMs and says so; `host new
# --tpm-state` refuses an incomplete state, a state mixed from two TPMs and
# a state of another vendor, leaving nothing behind.
. "$(dirname "$0")/lib.sh"
require swtpm swtpm_setup jq flock sha256sum

BG_PID=""
trap '[ -n "$BG_PID" ] && kill "$BG_PID" 2>/dev/null; wait 2>/dev/null; rm -rf "$T"' EXIT

cat >"$T/two.yaml" <<'YAML'
version: 1
name: two-hosts
description: two hosts whose TPMs come from the cache
hgs: { name: MyHgsService, domain: relecloud.com, trust: tpm }
hosts:
  - { name: FabricHost1 }
  - { name: FabricHost2 }
steps:
  - register: { host: FabricHost1 }
  - register: { host: FabricHost2 }
  - attest: { host: FabricHost1, expect: Passed }
  - attest: { host: FabricHost2, expect: Passed }
YAML
export HGSLAB_TPM_CACHE="$T/cache"
cache=$T/cache

# cache_sum: a hash of every file of the cache's states and vendor CA.
cache_sum() { (cd "$cache" && find states vendor -type f | LC_ALL=C sort | xargs sha256sum | sha256sum); }

# ---- an empty cache: filled by the lab, the hosts adopt states 0 and 1 ----
run "$HGSLAB" run --keep --workdir "$T/r1" "$T/two.yaml"
ok $([ $RC -eq 0 ] && grep -q '4 of 4 steps passed' <<<"$OUT$ERR"; echo $?) \
	"an empty cache: the lab passes (got $RC)"
ok $(grep -q "making 2 states" <<<"$ERR"; echo $?) "the lab fills the empty cache, saying so"
ok $([ -d "$cache/states/00000" ] && [ -d "$cache/states/00001" ] && [ ! -e "$cache/states/00002" ]; echo $?) \
	"the cache holds the two states the lab needed"
logs=$T/r1/two-hosts/logs
ok $(grep -q -- "--tpm-state $cache/states/00000" "$logs"/*-host-new.cmd &&
	grep -q -- "--tpm-state $cache/states/00001" "$logs"/*-host-new.cmd; echo $?) \
	"each host adopts its own state (host new --tpm-state, states 0 and 1)"
ek1=$(jq -r .ek_fingerprint "$logs/FabricHost1.platform-id.json")
ek2=$(jq -r .ek_fingerprint "$logs/FabricHost2.platform-id.json")
ok $([ -n "$ek1" ] && [ "$ek1" != null ] && [ "$ek1" != "$ek2" ]; echo $?) "the two hosts of the lab have two EKs"
ok $(cmp -s "$cache/vendor/vendor-ca-cert.pem" "$T/r1/two-hosts/hosts/tpm-vendor/vendor-ca-cert.pem" &&
	! grep -q "$cache" "$T/r1/two-hosts/hosts/tpm-vendor/swtpm-localca.conf"; echo $?) \
	"the lab's vendor CA is a copy of the cache's, configured in the lab"
ok $([ -s "$T/r1/two-hosts/hosts/FabricHost1/keys/ak.tpmkey" ] &&
	! grep -q "creating the attestation key" "$T/r1/two-hosts/hosts/FabricHost1/host.log"; echo $?) \
	"the adopted state brings its AK: the agent makes none"

# ---- a warm cache: used as it is, never written ----
before=$(cache_sum)
run "$HGSLAB" run --workdir "$T/r2" "$T/two.yaml"
ok $([ $RC -eq 0 ] && ! grep -q "making" <<<"$ERR" && [ "$(cache_sum)" = "$before" ]; echo $?) \
	"a warm cache: the lab passes, makes no state and writes nothing into the cache"

# ---- a cached state that lost a file is made again ----
rm "$cache/states/00001/ak.key"
run "$HGSLAB" run --workdir "$T/r3" "$T/two.yaml"
ok $([ $RC -eq 0 ] && grep -q "state 1 is incomplete; it will be made again" <<<"$ERR" &&
	[ -s "$cache/states/00001/ak.key" ]; echo $?) "an incomplete cached state is made again, saying so"

# ---- another run holds the cache: the lab manufactures, without waiting ----
flock -x "$cache/.lock" sleep 120 &
BG_PID=$!
for _ in $(seq 100); do flock -n -s "$cache/.lock" true 2>/dev/null || break; sleep 0.05; done
run "$HGSLAB" run --workdir "$T/r4" "$T/two.yaml"
ok $([ $RC -eq 0 ] && grep -q "in use by another run: this lab's 2 TPMs are manufactured" <<<"$ERR"; echo $?) \
	"a cache held by another run: the lab manufactures its TPMs and says so"
kill "$BG_PID" 2>/dev/null; wait "$BG_PID" 2>/dev/null; BG_PID=""

# ---- host new --tpm-state refuses what is not a state of the lab's vendor ----
mkdir -p "$T/h"
cp -r "$cache/vendor" "$T/h/vendor"
run "$HGSLAB" host new --dir "$T/h/ok" --name FabricHost7 --domain fabrikam.com --vendor-dir "$T/h/vendor" \
	--tpm-state "$cache/states/00000" --json
ok $([ $RC -eq 0 ] && [ "$(jq -r .AdoptedTpmState <<<"$OUT")" = "$cache/states/00000" ] &&
	[ -s "$T/h/ok/tpm/tpm2-00.permall" ] && [ -s "$T/h/ok/keys/tk.tpmkey" ]; echo $?) \
	"host new --tpm-state: the state, its AK and TK are adopted"
cp -r "$cache/states/00000" "$T/h/incomplete"
rm "$T/h/incomplete/tk.key"
run "$HGSLAB" host new --dir "$T/h/a" --name FabricHost8 --domain fabrikam.com --vendor-dir "$T/h/vendor" \
	--tpm-state "$T/h/incomplete"
ok $([ $RC -eq 2 ] && grep -q "is not a complete TPM state" <<<"$ERR" && [ ! -e "$T/h/a" ]; echo $?) \
	"an incomplete state is refused (exit 2), nothing left"
cp -r "$cache/states/00000" "$T/h/mixed"
cp "$cache/states/00001/ek.pub" "$cache/states/00001/ek-cert.der" "$T/h/mixed/"
run "$HGSLAB" host new --dir "$T/h/b" --name FabricHost8 --domain fabrikam.com --vendor-dir "$T/h/vendor" \
	--tpm-state "$T/h/mixed"
ok $([ $RC -ne 0 ] && grep -q "not the one its 'ek.pub' names" <<<"$ERR" && [ ! -e "$T/h/b" ]; echo $?) \
	"a state mixed from two TPMs is refused, nothing left"
run "$HGSLAB" host new --dir "$T/h/other" --name FabricHost9 --domain fabrikam.com --vendor-dir "$T/h/vendor2"
run "$HGSLAB" host new --dir "$T/h/c" --name FabricHost8 --domain fabrikam.com --vendor-dir "$T/h/vendor2" \
	--tpm-state "$cache/states/00000"
ok $([ $RC -ne 0 ] && grep -q "does not chain to the lab's TPM vendor CA" <<<"$ERR" && [ ! -e "$T/h/c" ]; echo $?) \
	"a state of another vendor is refused, nothing left"
ok $(! pgrep -f "$T/" >/dev/null; echo $?) "nothing is left running"
done_testing
