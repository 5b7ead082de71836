#!/usr/bin/env bash
# names.sh - one verdict per name: every name below goes through the verb
# that stores it (host new, fabric add-computer, hgs init, fabric new,
# fabric add-group, tenant new-guardian, tenant new-vm) and through
# `hgslab run --check` on a scenario that uses it, and both must agree: the
# bad ones are refused by both (exit 2), the good ones accepted by both.
# proto/names.h holds the one validator of each kind.
. "$(dirname "$0")/lib.sh"

# A valid scenario with one field replaced: yaml KEY VALUE (VALUE is quoted for YAML).
yaml() {
	local hgs=MyHgsService hdom=relecloud.com fdom=fabrikam.com group=GuardedHosts
	local host=FabricHost1 guardian=Owner vm=ShieldedVM1 q
	q=$(printf '%s' "$2" | sed 's/\\/\\\\/g; s/"/\\"/g')
	case $1 in
	hgs) hgs=$q ;; hgs_domain) hdom=$q ;; fabric_domain) fdom=$q ;; group) group=$q ;;
	host) host=$q ;; guardian) guardian=$q ;; vm) vm=$q ;;
	esac
	cat <<EOF
version: 1
name: names
description: one field replaced
hgs: { name: "$hgs", domain: "$hdom", trust: ad }
fabric: { domain: "$fdom", groups: ["$group"] }
hosts:
  - { name: "$host", groups: ["$group"] }
tenant:
  guardians: ["$guardian"]
  vms:
    - { name: "$vm", owner: "$guardian", guardians: ["MyHgsService"] }
steps:
  - attest: { host: "$host", expect: Passed }
EOF
}

openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$T/k.pem" 2>/dev/null &&
	openssl pkey -in "$T/k.pem" -pubout -out "$T/pub.pem" 2>/dev/null
ok $? "a machine public key for fabric add-computer"
run "$HGSLAB" fabric new --dir "$T/fabric" --domain fabrikam.com --listen 127.0.0.3:0
ok $RC "fabric new for the directory verbs"
run "$HGSLAB" tenant new-guardian --dir "$T/tenant" --name Owner
ok $RC "a tenant directory for the tenant verbs"

# verb KIND NAME: run the verb(s) that store a KIND name; 0 when all accept it, 2 when all refuse it.
verb() {
	local kind=$1 name=$2 d rcs=""
	d=$(mktemp -u "$T/v.XXXXXX")
	case $kind in
	host)
		run "$HGSLAB" host new --dir "$d" --name "$name" --domain fabrikam.com --vendor-dir "$T/vendor"
		rcs="$RC"
		run "$HGSLAB" fabric add-computer --dir "$T/fabric" --name "$name" --key "$T/pub.pem"
		rcs="$rcs $RC" ;;
	hgs)
		run "$HGSLAB" hgs init --dir "$d" --name "$name" --domain relecloud.com --listen 127.0.0.2:0
		rcs="$RC" ;;
	hgs_domain)
		run "$HGSLAB" hgs init --dir "$d" --name MyHgsService --domain "$name" --listen 127.0.0.2:0
		rcs="$RC" ;;
	fabric_domain)
		run "$HGSLAB" fabric new --dir "$d" --domain "$name" --listen 127.0.0.3:0
		rcs="$RC"
		run "$HGSLAB" host new --dir "$d.h" --name FabricHost1 --domain "$name" --vendor-dir "$T/vendor"
		rcs="$rcs $RC" ;;
	group)
		run "$HGSLAB" fabric add-group --dir "$T/fabric" --name "$name"
		rcs="$RC" ;;
	guardian)
		run "$HGSLAB" tenant new-guardian --dir "$T/tenant" --name "$name"
		rcs="$RC" ;;
	vm)
		run "$HGSLAB" tenant new-vm --dir "$T/tenant" --name "$name" --disk-size 4M
		rcs="$RC" ;;
	esac
	case " $rcs " in
	*" 0 "*) [ -z "${rcs//[0 ]/}" ] && echo 0 || echo "mixed($rcs)" ;;
	*) [ -z "${rcs//[2 ]/}" ] && echo 2 || echo "mixed($rcs)" ;;
	esac
}

# same KIND NAME WANT: the verbs and run --check both give WANT (0 or 2) for NAME.
same() {
	local kind=$1 name=$2 want=$3 v c
	v=$(verb "$kind" "$name")
	yaml "$kind" "$name" >"$T/s.yaml"
	run "$HGSLAB" run --check "$T/s.yaml"
	c=$RC
	ok $([ "$v" = "$want" ] && [ "$c" = "$want" ]; echo $?) \
		"$kind '$name': verbs exit $v, run --check exits $c (want $want)"
	[ "$c" = "$want" ] || echo "# run --check: $ERR"
}

# Accepted by both.
same host FabricHost1 0
same hgs MyHgsService 0
same hgs_domain relecloud.com 0
same group "Guarded Hosts" 0
same guardian Tenant.Owner_2 0
same vm ShieldedVM-2 0

# Refused by both, one row per rule.
same host Fabric_Host.1 2                  # '_' and '.' are not NetBIOS
same host FabricHost1234567890 2           # more than 15 characters
same host 12345 2                          # all digits
same host -Host 2                          # leading '-'
same host "Fabric Host" 2
same host "" 2
same hgs "My Hgs" 2
same hgs MyHgsServiceMyHgsServiceMyHgsServiceMyHgs 2   # 41 characters
same hgs "a/b" 2
same hgs_domain h..com 2
same hgs_domain a_b.com 2
same hgs_domain "$(printf 'a%.0s' {1..64}).com" 2      # a 64-character label
same fabric_domain -fabrikam.com 2
same fabric_domain fabrikam.com- 2
same group "Guarded/Hosts" 2
same group "a@b" 2
same group " Guarded" 2
same guardian .Owner 2
same guardian "x/../y" 2
same guardian "Owner 1" 2
same vm .hidden 2
same vm "a/b" 2
same vm "$(printf 'v%.0s' {1..65})" 2

done_testing
