#!/usr/bin/env bash
# layering.sh - the folders keep one direction of dependency (README "Layout"):
# scripts/check-layers.sh passes on this tree, and fails, naming file and line,
# on small trees that break each rule.
. "$(dirname "$0")/lib.sh"
checker="$ROOT/scripts/check-layers.sh"

run "$checker" "$ROOT"
ok $([ $RC -eq 0 ] && grep -qE '^layering: [0-9]+ files, [0-9]+ includes, ok$' <<<"$OUT"; echo $?) \
	"the tree keeps lib <- proto <- vm <- components <- sim <- cmd"
[ $RC -eq 0 ] || sed 's/^/# /' <<<"$OUT"

# tree NAME FILE TEXT...: a throw-away tree $T/NAME holding FILE with the given lines.
tree() {
	local name=$1 file=$2; shift 2
	mkdir -p "$T/$name/$(dirname "$file")"
	printf '%s\n' "$@" >"$T/$name/$file"
}

# refused NAME WANT DESC: the checker fails on tree NAME and prints WANT.
refused() {
	run "$checker" "$T/$1"
	ok $([ $RC -eq 1 ] && grep -qF -- "$2" <<<"$OUT"; echo $?) "$3"
	[ $RC -eq 1 ] && grep -qF -- "$2" <<<"$OUT" || echo "# rc=$RC out: $OUT"
}

tree ok hgs/a.c '#include "hgs/a.h"' '#include "proto/attest.h"' '#include "vm/launch.h"' '#include <stdio.h>'
tree ok cmd/main.c '#include "sim/lab.h"' '#include "hosts/host.h"' '#include "lib/err.h"'
tree ok tests/unit/test_x.c '#include "cmd/cmd.h"'
run "$checker" "$T/ok"
ok $([ $RC -eq 0 ]; echo $?) "includes that point down or stay in their folder pass; tests/ is not checked"

tree up lib/err.c '/* fine */' '#include "lib/err.h"' '#include "hgs/node.h"'
refused up 'lib/err.c:3: include "hgs/node.h" points up' "an include that points up fails with file and line"

tree around hosts/vm.c '#include "tenant/vm.h"'
refused around 'hosts/vm.c:1: include "tenant/vm.h" goes around' "a component including a sibling component fails"

tree sim sim/bench.c '#include "cmd/cmd.h"'
refused sim 'sim/bench.c:1: include "cmd/cmd.h" points up' "sim/ including the command layer fails"

tree proto proto/tcglog.c '#  include "hosts/host.h"'
refused proto 'proto/tcglog.c:1: include "hosts/host.h" points up' "a spaced '#  include' is read too"

tree guest guest/agent.c '#include "proto/keyprotector.h"' '#include "lib/err.h"' '#include "hosts/host.h"'
refused guest 'guest/agent.c:3: include "hosts/host.h" crosses the guest boundary' "guest/ including the host's code fails"
run "$checker" "$T/guest"
ok $(grep -q 'agent.c:[12]:' <<<"$OUT"; [ $? -ne 0 ]; echo $?) "guest/ may include the formats it checks itself (proto/, lib/)"

tree intoguest hosts/vm.c '#include "guest/agent.h"'
refused intoguest 'hosts/vm.c:1: include "guest/agent.h" crosses the guest boundary' "nothing includes guest/"

tree bare hgs/a.c '#include "a.h"'
refused bare 'hgs/a.c:1: include "a.h" names no folder' "an include without its folder fails"

tree stray extra/x.c '#include "lib/err.h"'
refused stray "folder 'extra' is not a layer" "a folder outside the layering fails"

done_testing
