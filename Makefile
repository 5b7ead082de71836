# hgslab build.  `make help` lists the targets.
#
# The folders are layers, one direction of dependency (README "Layout";
# scripts/check-layers.sh enforces it):
#   lib <- proto <- vm <- {hgs, fabric, hosts, tenant} <- sim <- cmd
# generic mechanisms, the formats both ends speak, the VM launcher, the
# fabric's four parts (never including each other), the lab, the command line.
# Every .c file of those folders goes into build/libhgslab.a except
# cmd/main.c, which is the binary's entry point, and cmd/gendoc.c, the
# build-time program that writes the man page and the bash completion from
# the command table (build/man, build/completion); guest/ is its own program
# (it may take proto/ and lib/ sources, nothing includes it).
# Every tests/unit/test_*.c becomes its own cmocka test program linked against
# that library, so adding a module or a test never needs a Makefile edit.
#
# SAN=1 selects the ASan+UBSan build, kept apart in build/asan/.

CC      ?= cc
PKGS    := libcrypto yaml-0.1 tss2-esys tss2-tctildr tss2-rc tss2-mu \
           libmicrohttpd libcurl jansson sqlite3 libpq libxml-2.0
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
TEST_LIBS  := $(shell pkg-config --libs cmocka 2>/dev/null)

CFLAGS_BASE := -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -Wno-deprecated-declarations -Wno-format-truncation \
               -Wshadow -Wformat=2 -Wstrict-prototypes -Wmissing-prototypes -I. $(PKG_CFLAGS)

ifeq ($(SAN),1)
BUILD   := build/asan
CFLAGS  := $(CFLAGS_BASE) -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined \
           -fno-sanitize-recover=undefined
LDFLAGS := -fsanitize=address,undefined
else
BUILD   := build/release
CFLAGS  := $(CFLAGS_BASE) -O2 -g
LDFLAGS :=
endif

BIN_DIR := $(if $(filter 1,$(SAN)),$(BUILD)/bin,bin)
HGSLAB  := $(BIN_DIR)/hgslab

LAYERS   := lib proto vm hgs fabric hosts tenant sim cmd
LIB_SRC  := $(sort $(foreach d,$(LAYERS),$(wildcard $(d)/*.c)))
LIB_SRC  := $(filter-out cmd/main.c cmd/gendoc.c,$(LIB_SRC))
# MODULES="lib/err.c lib/log.c lib/x.c" BUILD=build/x builds a test against
# just those modules (for working on one module while others are half-done).
ifneq ($(MODULES),)
LIB_SRC  := $(MODULES)
endif
LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/obj/%.o)
# web/ (the dashboard's and the HTML report's pages, scripts, styles) is
# embedded in the binary: scripts/embed.sh writes it out as C (sim/web.h).
WEB_SRC  := $(sort $(wildcard web/*))
WEB_C    := build/gen/web_assets.c
ifeq ($(MODULES),)
LIB_OBJ  += $(BUILD)/obj/gen/web_assets.o
endif
LIBA     := $(BUILD)/libhgslab.a
TEST_SRC := $(sort $(wildcard tests/unit/test_*.c))
TEST_BIN := $(TEST_SRC:tests/unit/%.c=$(BUILD)/tests/%)
TEST_HELPERS := $(sort $(wildcard tests/unit/helper_*.c))
TEST_HELPER_BIN := $(TEST_HELPERS:tests/unit/%.c=$(BUILD)/tests/%)
TEST_UTIL_OBJ := $(BUILD)/obj/tests/unit/testutil.o $(BUILD)/obj/tests/unit/teststore.o

# The man page and the bash completion, generated from the command table.
GENDOC  := $(BUILD)/gendoc
MAN     := build/man/hgslab.1
COMPLETION := build/completion/hgslab
DOCS_MD := $(sort $(wildcard docs/*.md))

.PHONY: all asan tests deps test test-unit test-cli demo bench clean help guest fuzz fuzz-build \
        fuzz-smoke doc install uninstall

all: $(HGSLAB) tests doc

help:
	@echo "make deps    install the Debian packages hgslab needs (apt-get; sudo when not root)"
	@echo "make         build bin/hgslab and the unit tests"
	@echo "make asan    build the ASan+UBSan binary (build/asan/bin/hgslab) and its unit tests"
	@echo "make guest   build the shielded VM's kernel + initramfs into build/guest (cached)"
	@echo "make test    deps + both builds + every test; ends with 'N passed, N failed'"
	@echo "make demo    deps + build + guest + the default demo (scenarios/article-walkthrough.yaml)"
	@echo "make bench   run the benchmarks"
	@echo "make fuzz    build the libFuzzer targets (build/fuzz) and run each FUZZ_SECONDS (60)"
	@echo "make fuzz-smoke  the same for 5 s each (make test runs it)"
	@echo "make doc     the man page and bash completion from the command table (build/man, build/completion)"
	@echo "make install install into PREFIX (/usr/local; DESTDIR stages for packagers): the binary, the man"
	@echo "             page, the completion, the guest (make guest) and scenarios/ in PREFIX/share/hgslab"
	@echo "make uninstall  remove what make install installed (same PREFIX and DESTDIR)"
	@echo "make clean   remove bin/ and build/"

tests: $(TEST_BIN) $(TEST_HELPER_BIN)

asan:
	$(MAKE) SAN=1 all

$(HGSLAB): $(BUILD)/obj/cmd/main.o $(LIBA)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS) -lpthread

# gendoc runs the same command table as the binary, so it links the same library.
$(GENDOC): $(BUILD)/obj/cmd/gendoc.o $(LIBA)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS) -lpthread

doc: $(MAN) $(COMPLETION)

$(MAN): $(GENDOC) $(DOCS_MD)
	@mkdir -p $(dir $@)
	$(GENDOC) man $(DOCS_MD) >$@.tmp && mv $@.tmp $@

$(COMPLETION): $(GENDOC)
	@mkdir -p $(dir $@)
	$(GENDOC) completion >$@.tmp && mv $@.tmp $@

$(LIBA): $(LIB_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@
	ar rcs $@ $^

$(WEB_C): $(WEB_SRC) scripts/embed.sh
	@mkdir -p $(dir $@)
	scripts/embed.sh $(WEB_SRC) >$@.tmp && mv $@.tmp $@

$(BUILD)/obj/gen/web_assets.o: $(WEB_C)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c -o $@ $<

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -c -o $@ $<

# Every test program also links tests/unit/testutil.c (test data paths, scratch
# files, tpm2_eventlog as a reference: tests/unit/testutil.h) and
# tests/unit/teststore.c (the store a test runs on, SQLite or PostgreSQL).
$(BUILD)/tests/test_%: $(BUILD)/obj/tests/unit/test_%.o $(TEST_UTIL_OBJ) $(LIBA)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS) $(TEST_LIBS) -lpthread

$(BUILD)/tests/helper_%: $(BUILD)/obj/tests/unit/helper_%.o $(LIBA)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS) -lpthread

-include $(LIB_OBJ:.o=.d) $(BUILD)/obj/cmd/main.d $(BUILD)/obj/cmd/gendoc.d $(TEST_UTIL_OBJ:.o=.d) \
         $(TEST_SRC:tests/unit/%.c=$(BUILD)/obj/tests/unit/%.d)

deps:
	@scripts/deps.sh

# The whole suite: unit tests on both builds, CLI and end-to-end tests on the
# release binary.  tests/run.sh prints the closing 'N passed, N failed' line.
test: deps
	$(MAKE) all
	$(MAKE) SAN=1 all
	$(MAKE) fuzz-build
	tests/run.sh

demo: deps guest
	$(MAKE) $(HGSLAB)
	$(HGSLAB) demo

bench: deps
	$(MAKE) $(HGSLAB)
	$(HGSLAB) bench all

clean:
	rm -rf bin build

# Installing (README "Install"): PREFIX/bin/hgslab finds its guest and its
# scenario library in PREFIX/share/hgslab beside it (lib/selfpath.h), so an
# installed hgslab runs from any directory.  DESTDIR stages the same tree for
# packagers (make install DESTDIR=/tmp/stage PREFIX=/usr).  The guest is what
# the launcher boots: the kernel and the initramfs of `make guest`.
PREFIX   ?= /usr/local
DESTDIR  ?=
INSTALL  ?= install
BINDIR   := $(PREFIX)/bin
MAN1DIR  := $(PREFIX)/share/man/man1
COMPDIR  := $(PREFIX)/share/bash-completion/completions
DATADIR  := $(PREFIX)/share/hgslab
SCENARIO_FILES := $(sort $(wildcard scenarios/*.yaml))
ATTACK_FILES   := $(sort $(wildcard scenarios/attacks/*.yaml))

install: $(HGSLAB) doc guest
	$(INSTALL) -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MAN1DIR) $(DESTDIR)$(COMPDIR) \
		$(DESTDIR)$(DATADIR)/guest $(DESTDIR)$(DATADIR)/scenarios/attacks
	$(INSTALL) -m 755 $(HGSLAB) $(DESTDIR)$(BINDIR)/hgslab
	$(INSTALL) -m 644 $(MAN) $(DESTDIR)$(MAN1DIR)/hgslab.1
	$(INSTALL) -m 644 $(COMPLETION) $(DESTDIR)$(COMPDIR)/hgslab
	$(INSTALL) -m 644 $(GUEST_DIR)/vmlinuz $(GUEST_DIR)/initramfs.cpio $(DESTDIR)$(DATADIR)/guest
	$(INSTALL) -m 644 $(SCENARIO_FILES) $(DESTDIR)$(DATADIR)/scenarios
	$(INSTALL) -m 644 $(ATTACK_FILES) $(DESTDIR)$(DATADIR)/scenarios/attacks

# PREFIX/share/hgslab is hgslab's own folder: it goes whole.
uninstall:
	rm -f $(DESTDIR)$(BINDIR)/hgslab $(DESTDIR)$(MAN1DIR)/hgslab.1 $(DESTDIR)$(COMPDIR)/hgslab
	rm -rf $(DESTDIR)$(DATADIR)

# The shielded VM's guest (guest/README.md): kernel + uncompressed initramfs
# with the guest agent, in $(GUEST_DIR).  guest/mkguest.sh hashes its inputs
# and rebuilds nothing when they are unchanged; the kernel .deb is cached in
# $(GUEST_CACHE).  `make test` builds it first: tests/cli/guest.sh boots it.
GUEST_DIR   ?= build/guest
GUEST_CACHE ?= build/cache
# The agent also compiles the formats it checks inside the VM (the shielding
# data, the template's signature catalog, the specialization data) and the
# lib/ code they stand on: the same sources as the host's, not a copy.
GUEST_SHARED := lib/err.c lib/crypto.c lib/json.c proto/keyprotector.c \
                proto/vsc.c proto/vsc_tdisk.c proto/vsc_viq.c proto/pdk.c proto/fsk.c
GUEST_SRC   := $(sort $(wildcard guest/*.c)) $(GUEST_SHARED)
GUEST_LIBS  := -lcryptsetup -ltss2-esys -ltss2-tcti-device -ltss2-mu -ltss2-rc -ljansson -lcrypto

guest: $(GUEST_DIR)/hgslab-agent
	@GUEST_CACHE=$(GUEST_CACHE) guest/mkguest.sh $(GUEST_DIR) $(GUEST_DIR)/hgslab-agent

$(GUEST_DIR)/hgslab-agent: $(GUEST_SRC) $(wildcard guest/*.h) $(GUEST_SHARED:.c=.h) lib/endian.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_BASE) -O2 -s -o $@ $(GUEST_SRC) $(GUEST_LIBS)

test: guest
bench: guest

# Fuzzing (tests/fuzz/README.md): every tests/fuzz/fuzz_*.c is a libFuzzer
# target (one LLVMFuzzerTestOneInput) built with clang against the sources of
# every layer below cmd/ (FUZZ_BUILD/libhgslab.a, instrumented for coverage,
# ASan and UBSan).  Warnings are the gcc builds' job: this build shows
# clang's without failing on them (no -Werror) and silences two idioms gcc
# checks otherwise (vprintf wrappers, SQL split in strings).  `make fuzz`
# runs each target for FUZZ_SECONDS from its seed corpus
# tests/fuzz/corpus/TARGET/, growing FUZZ_BUILD/corpus/TARGET/;
# FUZZ_TARGETS="tcglog wbcl" runs only those.  A crash, leak or timeout fails
# it with the reproducer's path.  tests/cli/fuzz.sh is the smoke pass of
# `make test`.
FUZZ_CC      ?= clang
FUZZ_BUILD   := build/fuzz
FUZZ_SECONDS ?= 60
FUZZ_TARGETS ?=
FUZZ_SAN     := -fsanitize=address,undefined -fno-sanitize-recover=undefined
FUZZ_CFLAGS  := $(filter-out -Werror,$(CFLAGS_BASE)) -Wno-unknown-warning-option \
                -Wno-format-nonliteral -Wno-string-concatenation -O1 -g -fno-omit-frame-pointer \
                $(FUZZ_SAN) -fsanitize=fuzzer-no-link
FUZZ_LIB_OBJ := $(filter-out cmd/%,$(LIB_SRC))
FUZZ_LIB_OBJ := $(FUZZ_LIB_OBJ:%.c=$(FUZZ_BUILD)/obj/%.o) $(FUZZ_BUILD)/obj/gen/web_assets.o
FUZZ_LIBA    := $(FUZZ_BUILD)/libhgslab.a
FUZZ_SRC     := $(sort $(wildcard tests/fuzz/fuzz_*.c))
FUZZ_BIN     := $(FUZZ_SRC:tests/fuzz/%.c=$(FUZZ_BUILD)/%)
FUZZ_UTIL_OBJ := $(FUZZ_BUILD)/obj/tests/fuzz/fuzzutil.o

fuzz-build: $(FUZZ_BIN)

fuzz: fuzz-build
	tests/fuzz/run.sh -t $(FUZZ_SECONDS) $(FUZZ_TARGETS)

fuzz-smoke: fuzz-build
	tests/fuzz/run.sh -t 5 $(FUZZ_TARGETS)

$(FUZZ_BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -MMD -MP -c -o $@ $<

$(FUZZ_BUILD)/obj/gen/web_assets.o: $(WEB_C)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -c -o $@ $<

$(FUZZ_LIBA): $(FUZZ_LIB_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@
	ar rcs $@ $^

$(FUZZ_BUILD)/fuzz_%: $(FUZZ_BUILD)/obj/tests/fuzz/fuzz_%.o $(FUZZ_UTIL_OBJ) $(FUZZ_LIBA)
	$(FUZZ_CC) -fsanitize=fuzzer $(FUZZ_SAN) -o $@ $^ $(PKG_LIBS) -lpthread

-include $(FUZZ_LIB_OBJ:.o=.d) $(FUZZ_UTIL_OBJ:.o=.d) \
         $(FUZZ_SRC:tests/fuzz/%.c=$(FUZZ_BUILD)/obj/tests/fuzz/%.d)
