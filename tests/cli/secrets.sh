#!/usr/bin/env bash
# secrets.sh - the tenant's file contents stay out of argument vectors and
# logs (issue #12, hole 4): `tenant new-vm --file NAME=@PATH` takes the
# content from a file (`@@` keeps a literal leading '@'; NAME=CONTENT still
# works for people), and the scenario runner stages every VM file as a 0600
# file it removes afterwards, so the contents appear in no `logs/NNN-*.cmd`,
# `.out` or `.err` and in no lab file at all but the tenant's plain disk
# (the template, until it is shielded).
# Runs against $HGSLAB and, when set, $HGSLAB_ASAN (named but not built: a failure).
. "$(dirname "$0")/lib.sh"

require swtpm swtpm_setup mke2fs debugfs jq

S1="lab secret 7f3a e1"
S2="@second secret 9c"

# disk_has IMG NAME TEXT: the ext4 image IMG holds file NAME with exactly TEXT.
disk_has() { [ "$(debugfs -R "cat /$2" "$1" 2>/dev/null)" = "$3" ]; }

suite() {
	local bin=$1 tag d ten img found
	tag=$(basename "$(dirname "$(dirname "$bin")")")
	d="$T/$tag"
	ten="$d/tenant"
	mkdir -p "$d/src"

	# ---- new-vm: contents from files ----
	printf '%s' "$S1" >"$d/src/one"
	run "$bin" tenant new-vm --dir "$ten" --name vm1 --file "one.txt=@$d/src/one" \
		--file "two.txt=@$S2" --file "three.txt=plain words"
	img="$ten/vms/vm1/plain.img"
	ok $([ $RC -eq 0 ] && disk_has "$img" one.txt "$S1" && disk_has "$img" two.txt "$S2" &&
		disk_has "$img" three.txt "plain words"; echo $?) \
		"$tag: new-vm --file NAME=@PATH takes the content from PATH, @@ keeps a literal '@', NAME=CONTENT as before"
	[ $RC -eq 0 ] || sed 's/^/# /' <<<"$ERR"
	run "$bin" tenant new-vm --dir "$ten" --name vm2 --file "x.txt=@$d/src/missing"
	ok $([ $RC -eq 2 ] && grep -q "missing" <<<"$ERR" && [ ! -e "$ten/vms/vm2" ]; echo $?) \
		"$tag: new-vm --file NAME=@PATH with no such file: exit 2, nothing made"

	# ---- the scenario runner: no content in a command line or a log ----
	cat >"$d/s.yaml" <<EOF
version: 1
name: secret-files
description: The tenant's file contents reach the VM's disk only
keywords: [secrets]
hgs: { name: MyHgsService, domain: relecloud.com, nodes: 1, trust: hostkey }
hosts:
  - { name: FabricHost1, profile: baseline }
tenant:
  guardians: [Owner]
  vms:
    - { name: vm1, owner: Owner, guardians: [MyHgsService], policy: shielded, files: { secret.txt: "$S1", notes.txt: "$S2" } }
steps:
  - register: { host: FabricHost1 }
  - attest: { host: FabricHost1, expect: Passed }
EOF
	run "$bin" run "$d/s.yaml" --workdir "$d/w" --keep
	found=$(grep -rlaF -e "$S1" -e "$S2" "$d/w" 2>/dev/null | grep -v '/tenant/vms/vm1/plain.img$')
	ok $([ $RC -eq 0 ] && [ -z "$found" ] &&
		disk_has "$d/w/secret-files/tenant/vms/vm1/plain.img" secret.txt "$S1" &&
		disk_has "$d/w/secret-files/tenant/vms/vm1/plain.img" notes.txt "$S2"; echo $?) \
		"$tag: run: the VM's files reach its plain disk; their contents are in no command log, output or other lab file"
	[ -z "$found" ] || sed 's/^/# found in /' <<<"$found"
	ok $(grep -q -- "--file secret.txt=@" "$d"/w/secret-files/logs/*-tenant-new-vm.cmd; echo $?) \
		"$tag: run: new-vm's command log names staged files (NAME=@PATH), not contents"
}

each_binary suite
done_testing
