#!/usr/bin/env bash
# check-layers.sh - keep the layering the folders show (README "Layout"):
#
#   lib <- proto <- vm <- {hgs, fabric, hosts, tenant} <- sim <- cmd
#
# A source file includes only project headers of its own folder or of a
# folder to its left; the four components never include each other; guest/
# is its own program (it runs inside the VM): it includes itself and the
# formats it must check on its own (proto/, and lib/ below them), and
# nothing includes guest/.
# Project includes always name their folder ("lib/err.h").  tests/ may
# include anything and is not checked.
#
# Usage: scripts/check-layers.sh [ROOT]   (default: the repository root)
# Prints one line per violation, "FILE:LINE: WHY", and exits 1 when there is
# any; prints "layering: N files, N includes, ok" and exits 0 otherwise.
set -euo pipefail

root=${1:-"$(cd "$(dirname "$0")/.." && pwd)"}
cd "$root"

# rank of each layer; a folder may include a lower rank or itself
declare -A rank=([lib]=0 [proto]=1 [vm]=2 [hgs]=3 [fabric]=3 [hosts]=3 [tenant]=3 [sim]=4 [cmd]=5)

bad=0 files=0 incs=0
while IFS= read -r -d '' f; do
	dir=${f%%/*}
	[ "$dir" = "$f" ] && continue
	if [ "$dir" = tests ]; then continue; fi
	if [ "$dir" != guest ] && [ -z "${rank[$dir]+x}" ]; then
		echo "$f:1: folder '$dir' is not a layer (add it to scripts/check-layers.sh and the README's layering sentence)"
		bad=$((bad + 1))
		continue
	fi
	files=$((files + 1))
	n=0
	while IFS= read -r line; do
		n=$((n + 1))
		[[ $line =~ ^[[:space:]]*#[[:space:]]*include[[:space:]]*\"([^\"]+)\" ]] || continue
		inc=${BASH_REMATCH[1]}
		incs=$((incs + 1))
		to=${inc%%/*}
		if [ "$to" = "$inc" ]; then
			echo "$f:$n: include \"$inc\" names no folder (write \"$dir/$inc\")"
			bad=$((bad + 1))
			continue
		fi
		[ "$to" = "$dir" ] && continue
		if [ "$to" = guest ] || { [ "$dir" = guest ] && [ "$to" != lib ] && [ "$to" != proto ]; }; then
			echo "$f:$n: include \"$inc\" crosses the guest boundary (guest/ is its own program; it takes only lib/ and proto/)"
			bad=$((bad + 1))
			continue
		fi
		[ "$dir" = guest ] && continue
		if [ -z "${rank[$to]+x}" ]; then
			echo "$f:$n: include \"$inc\" names folder '$to', which is not a layer"
			bad=$((bad + 1))
			continue
		fi
		if [ "${rank[$to]}" -eq "${rank[$dir]}" ]; then
			echo "$f:$n: include \"$inc\" goes around: $dir/ and $to/ are sibling components and never include each other"
			bad=$((bad + 1))
		elif [ "${rank[$to]}" -gt "${rank[$dir]}" ]; then
			echo "$f:$n: include \"$inc\" points up: $dir/ sits below $to/ (lib <- proto <- vm <- hgs fabric hosts tenant <- sim <- cmd)"
			bad=$((bad + 1))
		fi
	done <"$f"
done < <(find . -path ./build -prune -o -path ./bin -prune -o -path ./.git -prune -o \
	\( -name '*.c' -o -name '*.h' \) -type f -print0 | sed -z 's#^\./##' | sort -z)

if [ "$bad" -gt 0 ]; then
	echo "layering: $bad violations in $files files" >&2
	exit 1
fi
echo "layering: $files files, $incs includes, ok"
