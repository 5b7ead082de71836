#!/usr/bin/env bash
# install.sh - the man page and the bash completion that `make` generates from
# the command table (cmd/gendoc.c), and `make install` / `make uninstall`:
#
#  - build/man/hgslab.1 has one subsection per command and its list of areas
#    and verbs is the one `hgslab --help` and `hgslab AREA --help` print; it
#    renders with man (or groff/nroff) and every command shows;
#  - build/completion/hgslab completes the same areas, the same verbs and,
#    for every command, the options its --help lists; VM names come from
#    --dir's vms/, scenario files for run, attack names for attack show;
#  - make install PREFIX=DIR installs the binary, the man page, the
#    completion, the guest and the scenarios, and the installed hgslab runs
#    `demo` (both halves, VMs booted) from a directory with no checkout and
#    no HGSLAB_GUEST_DIR / HGSLAB_SCENARIOS; make install DESTDIR=D PREFIX=/usr
#    stages the same files under D/usr; make uninstall removes them.
# Needs `make` (both builds, make doc) and `make guest`.
. "$(dirname "$0")/lib.sh"

ROOT=${HGSLAB_ROOT:-$ROOT}
MAN="$ROOT/build/man/hgslab.1"
COMP="$ROOT/build/completion/hgslab"

require make jq col swtpm swtpm_setup qemu-system-x86_64
require_guest "$ROOT/build/guest"
for f in "$MAN" "$COMP" "$HGSLAB"; do
	[ -f "$f" ] || { echo "Bail out! $f is not built (make)"; exit 1; }
done

# entries TITLE: the names of the "TITLE:" block of a help text on stdin.
entries() {
	sed -n "/^$1:\$/,/^\$/p" | sed -nE 's/^  ([a-z0-9][a-z0-9-]*)( .*)?$/\1/p'
}

# help_commands: every command of the table, "AREA" or "AREA VERB" a line, from --help.
help_commands() {
	local a
	for a in $("$HGSLAB" --help | entries Areas); do
		if "$HGSLAB" "$a" --help | grep -q '^Verbs:$'; then
			"$HGSLAB" "$a" --help | entries Verbs | sed "s/^/$a /"
		else
			echo "$a"
		fi
	done
}

# help_options CMD...: the options (-x and --long, -h/--help included) of a command's --help, one a line.
help_options() {
	"$HGSLAB" "$@" --help | sed -n '/^Options:$/,$p' |
		grep -oE '^  (-[a-zA-Z], |    )--[a-z0-9-]+' | tr -d ',' | tr ' ' '\n' | grep . | sort
}

# comp WORD...: what the generated completion offers for the command line WORD... (the last one
# is the word being completed), one a line; run in an empty folder.
mkdir -p "$T/empty"
comp() {
	(cd "$T/empty" && bash -c 'source "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
		_hgslab; printf "%s\n" "${COMPREPLY[@]}"' _ "$COMP" "$@")
}

# sorted WORDS...: the words one a line, sorted.
sorted() { printf '%s\n' "$@" | grep . | sort; }

help_commands | sort >"$T/table"
n_cmds=$(wc -l <"$T/table")
ok $([ "$n_cmds" -gt 50 ]; echo $?) "--help lists the command table ($n_cmds commands)"

# ---- the man page ----
sed -nE 's/^\.SS "hgslab (.*)"$/\1/p' "$MAN" | sort >"$T/man"
check "the man page's commands are the command table's" diff "$T/table" "$T/man"
ok $(grep -q '^\.SH EXIT STATUS' "$MAN" && grep -q '^\.SH FILES' "$MAN" && grep -q '^\.SH SEE ALSO' "$MAN" &&
     grep -q 'docs/scenarios\.md' "$MAN"; echo $?) "the man page has EXIT STATUS, FILES and SEE ALSO (docs/)"
# every option of hgs init, with its metavar, is in its subsection
ok $(sed -n '/^\.SS "hgslab hgs init"/,/^\.SS/p' "$MAN" | grep -q '\\-\\-listen\\fR \\fIADDR:PORT'; echo $?) \
	"the man page lists a verb's options with their values"

if command -v man >/dev/null; then
	renderer=man
	render() { MANWIDTH=200 man -l "$1" 2>"$T/render.err" | col -b; }
elif command -v groff >/dev/null; then
	renderer=groff
	render() { groff -man -Tascii -rLL=200n "$1" 2>"$T/render.err" | col -b; }
elif command -v nroff >/dev/null; then
	renderer=nroff
	render() { nroff -man -rLL=200n "$1" 2>"$T/render.err" | col -b; }
else
	renderer=
fi
if [ -n "$renderer" ]; then
	render "$MAN" >"$T/rendered"
	missing=$(while read -r c; do grep -qE "^ +hgslab $c\$" "$T/rendered" || echo "$c"; done <"$T/table")
	ok $([ -s "$T/rendered" ] && [ ! -s "$T/render.err" ] && [ -z "$missing" ]; echo $?) \
		"the man page renders with $renderer and shows every area and verb"
	[ -n "$missing" ] && echo "# not shown: $missing"
	[ -s "$T/render.err" ] && sed 's/^/# /' "$T/render.err"
else
	echo "# neither man, groff nor nroff is installed: the roff source is checked instead"
	ok $(head -n 5 "$MAN" | grep -q '^\.TH HGSLAB 1' && grep -q '^\.SH NAME' "$MAN"; echo $?) \
		"the man page is roff (.TH, .SH NAME)"
fi
if command -v groff >/dev/null; then
	groff -man -ww -z "$MAN" >"$T/groff.err" 2>&1
	check "groff reads the man page without a warning" test ! -s "$T/groff.err"
fi

# ---- the bash completion ----
check "the completion is valid bash" bash -n "$COMP"
areas=$(help_commands | cut -d' ' -f1 | sort -u)
ok $([ "$(comp hgslab '' | grep -v '^-' | sort)" = "$areas" ]; echo $?) \
	"the completion's areas are the command table's"
# an area's verbs, or nothing for an area that runs directly (its arguments: none in an empty folder)
for a in $areas; do
	verbs=$(comp hgslab "$a" '' | grep -v '^-')
	if [ -n "$verbs" ]; then sed "s/^/$a /" <<<"$verbs"; else echo "$a"; fi
done | sort >"$T/comp"
check "the completion's verbs are the command table's" diff "$T/table" "$T/comp"
: >"$T/opts.help"
: >"$T/opts.comp"
while read -r -a c; do
	help_options "${c[@]}" | sed "s/^/${c[*]} /" >>"$T/opts.help"
	comp hgslab "${c[@]}" - | sort | sed "s/^/${c[*]} /" >>"$T/opts.comp"
done <"$T/table"
ok $([ "$(wc -l <"$T/opts.help")" -gt 300 ]; echo $?) "--help lists the options of every command"
check "the completion offers every command's options, as --help lists them" diff "$T/opts.help" "$T/opts.comp"

mkdir -p "$T/h/vms/ShieldedVM1" "$T/h/vms/Web2" "$T/sc/sub"
: >"$T/sc/a.yaml"
: >"$T/sc/notes.txt"
ok $([ "$(comp hgslab host start-vm --dir "$T/h" --name '' | sort)" = "$(sorted ShieldedVM1 Web2)" ] &&
     [ "$(comp hgslab host stop-vm -d "$T/h" --accel kvm -n S)" = ShieldedVM1 ] &&
     [ "$(comp hgslab host get-vm --dir = "$T/h" --name W)" = Web2 ]; echo $?) \
	"the completion names the VMs of --dir HOSTDIR (after -d, --dir and --dir=)"
ok $([ "$(comp hgslab run --keep "$T/sc/" | sort)" = "$(sorted "$T/sc/a.yaml" "$T/sc/sub")" ]; echo $?) \
	"the completion offers scenario files (and folders) to run"
ok $([ "$(comp hgslab attack show '' | sort)" = "$("$HGSLAB" attack list --json | jq -r '.[].Name' | sort)" ]; echo $?) \
	"the completion names the attacks of the library for attack show"

# ---- make install / uninstall ----
P="$T/prefix"
expected() {
	local f
	printf '%s\n' bin/hgslab share/man/man1/hgslab.1 share/bash-completion/completions/hgslab \
		share/hgslab/guest/vmlinuz share/hgslab/guest/initramfs.cpio
	for f in "$ROOT"/scenarios/*.yaml "$ROOT"/scenarios/attacks/*.yaml; do
		echo "share/hgslab/${f#"$ROOT"/}"
	done
}
expected | sort >"$T/expected"
files_under() { (cd "$1" && find . -type f -o -type l) | sed 's#^\./##' | sort; }

run make -C "$ROOT" -s --no-print-directory install PREFIX="$P"
ok $([ "$RC" -eq 0 ]; echo $?) "make install PREFIX=DIR exits 0"
[ "$RC" -eq 0 ] || { echo "$ERR" | tail -n 20 | sed 's/^/# /'; }
files_under "$P" >"$T/installed"
check "make install puts the binary, man page, completion, guest and scenarios (attacks/ included) under PREFIX" \
	diff "$T/expected" "$T/installed"
ok $([ -x "$P/bin/hgslab" ] && cmp -s "$MAN" "$P/share/man/man1/hgslab.1" &&
     cmp -s "$COMP" "$P/share/bash-completion/completions/hgslab"; echo $?) \
	"the installed binary is executable; the man page and completion are the generated ones"
if command -v man >/dev/null; then
	MANPATH="$P/share/man" MANWIDTH=200 man -P cat hgslab 2>/dev/null | col -b >"$T/man.installed"
	ok $(grep -qE '^ +hgslab hgs init$' "$T/man.installed"; echo $?) \
		"man hgslab finds the installed page with MANPATH=PREFIX/share/man"
fi
ok $([ "$(bash -c 'source "$1"; complete -p hgslab' _ "$P/share/bash-completion/completions/hgslab")" = \
      "complete -F _hgslab hgslab" ]; echo $?) "the installed completion registers itself for hgslab"

# The installed demo, from a folder with no checkout and no environment pointing at one.
mkdir -p "$T/elsewhere"
start=$(date +%s)
(cd "$T/elsewhere" && env -u HGSLAB_GUEST_DIR -u HGSLAB_SCENARIOS -u HGSLAB_ROOT \
	timeout 900 "$P/bin/hgslab" demo >"$T/demo.out" 2>"$T/demo.err" </dev/null)
RC=$?
secs=$(($(date +%s) - start))
ok $([ "$RC" -eq 0 ] && grep -q '^2 scenarios: 2 passed, 0 failed' "$T/demo.out" &&
     grep -q 'article-walkthrough' "$T/demo.out" && grep -q 'article-vmm' "$T/demo.out"; echo $?) \
	"the installed hgslab's demo, run from another folder, finds its guest and scenarios and passes (${secs} s)"
[ "$RC" -eq 0 ] || { tail -n 30 "$T/demo.out" "$T/demo.err" | sed 's/^/# /'; }
run env -u HGSLAB_SCENARIOS "$P/bin/hgslab" run --check "$P/share/hgslab/scenarios/attacks/hostile-json.yaml"
ok $([ "$RC" -eq 0 ]; echo $?) "the installed attack scenarios are valid"

D="$T/stage"
run make -C "$ROOT" -s --no-print-directory install DESTDIR="$D" PREFIX=/usr
ok $([ "$RC" -eq 0 ]; echo $?) "make install DESTDIR=D PREFIX=/usr exits 0"
files_under "$D/usr" >"$T/staged"
check "DESTDIR stages the same files under D/usr" diff "$T/expected" "$T/staged"
ok $([ "$(files_under "$D" | grep -vc '^usr/')" -eq 0 ]; echo $?) "nothing is staged outside D/usr"

run make -C "$ROOT" -s --no-print-directory uninstall PREFIX="$P"
ok $([ "$RC" -eq 0 ] && [ -z "$(files_under "$P")" ]; echo $?) "make uninstall PREFIX=DIR removes every installed file"
run make -C "$ROOT" -s --no-print-directory uninstall DESTDIR="$D" PREFIX=/usr
ok $([ "$RC" -eq 0 ] && [ -z "$(files_under "$D")" ]; echo $?) "make uninstall DESTDIR=D PREFIX=/usr removes the staged files"
done_testing
