/*
 * testutil.h - what the cmocka unit tests share: checks of the last error,
 * where the repository's test data is, scratch directories and per-test
 * sandboxes, small file helpers, a closed loopback port, the lab's HGS node,
 * a TPM key template and tpm2_eventlog as a reference.  The Makefile links
 * tests/unit/testutil.c into every test program; include this header after
 * <cmocka.h> (the helpers fail the running test through cmocka).
 *
 * Test data lives in tests/data/ of the repository.  A test finds it from
 * the repository root, which tu_repo_root() derives from the test program's
 * own path (/proc/self/exe: programs live in build/<flavour>/tests/, three
 * levels below the root), so a test passes from any working directory and
 * no path of the build machine is compiled in.  HGSLAB_FIXTURES=DIR, when
 * set, replaces tests/data.
 *
 * Paths returned as const char * come from small rotating static buffers:
 * use them at once or copy them (at most 16 are alive at a time).
 */
#ifndef HGSLAB_TESTS_TESTUTIL_H
#define HGSLAB_TESTS_TESTUTIL_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <tss2/tss2_tpm2_types.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "lib/err.h"
#include "proto/attest.h"
#include "proto/tcglog.h"

struct hgs_node;

/* Fail the test with the current error message unless it contains TEXT. */
#define assert_error_has(text) do { \
	if (!strstr(hl_error_last(), (text))) \
		fail_msg("error '%s' lacks '%s'", hl_error_last(), (text)); \
} while (0)

/* Fail with the current error message unless CALL returns 0. */
#define assert_ok(call) do { \
	if ((call) != 0) \
		fail_msg("%s failed: %s", #call, hl_error_last()); \
} while (0)

/* 1 when the current error message contains TEXT; else 0, after printing both (for conditions). */
int tu_error_has(const char *text);

/* A local char array NAME holding the path "FMT..." (a path kept longer than tu_path's). */
#define PATH_VAR(name, ...) char name[PATH_MAX]; snprintf(name, sizeof(name), __VA_ARGS__)

/* ---- the repository's test data ---- */

/*
 * The repository root (no trailing slash): three folders above the folder of
 * the running test program.  NULL, with the reason in hl_error_last(), when
 * /proc/self/exe cannot be read or the folder found holds no tests/data.
 */
const char *tu_repo_root(void);

/*
 * The path of test data file REL ("tcglogs/event-arch-linux.bin"):
 * $HGSLAB_FIXTURES/REL when that is set, else ROOT/tests/data/REL.  Fails the
 * test when the root cannot be found.
 */
const char *tu_data_path(const char *rel);

/*
 * The whole of test data file REL in a malloc'd buffer of exactly *LEN bytes (no
 * slack, so ASan sees an over-read); fails the test when it cannot be read.
 */
uint8_t *tu_data_load(const char *rel, size_t *len);

/* ---- scratch directories and files ---- */

/* A fresh directory /tmp/hgslab-test-TAG-XXXXXX into BUF; 0, or -1 (for setup functions). */
int tu_mkdtemp(char *buf, size_t size, const char *tag);

/* rm -rf DIR (lib/fileio's hl_file_rmtree); 0, or -1 (for teardown functions). */
int tu_rmtree(const char *dir);

/* Run a shell command made from FMT; 0 when it exits 0, else -1. */
int tu_sh(const char *fmt, ...) HL_PRINTF(1, 2);

/* "FMT..." formatted into one of 16 rotating static buffers (for a path used at once). */
const char *tu_path(const char *fmt, ...) HL_PRINTF(1, 2);

/* The mode bits of PATH; fails the test when PATH does not exist. */
unsigned tu_mode_of(const char *path);

/* 1 when PATH exists, else 0. */
int tu_exists(const char *path);

/* How many entries of DIR start with PREFIX (0 when DIR is missing). */
int tu_count_prefix(const char *dir, const char *prefix);

/* 1 when the file PATH exists and contains TEXT (in its first 64 KiB), else 0. */
int tu_file_has(const char *path, const char *text);

/* The whole of file PATH (malloc'd, NUL-terminated, *LEN bytes without the NUL); fails the test when it cannot. */
char *tu_slurp(const char *path, size_t *len);

/* Write TEXT to PATH (mode 0644, lib/fileio); fails the test when it cannot. */
void tu_put(const char *path, const char *text);

/* Write TEXT to DIR's lab clock offset file (lib/labclock); NULL removes the file. */
void tu_set_clock_offset(const char *dir, const char *text);

/* Write LEN bytes of DATA to a fresh /tmp/hgslab-test-TAG-XXXXXX file; its name into PATH. */
void tu_write_temp(const void *data, size_t len, const char *tag, char *path, size_t size);

/* ---- per-test sandboxes ---- */

/* The size of a sandbox's folder name (a char[TU_SANDBOX_DIR], first in the sandbox struct). */
#define TU_SANDBOX_DIR 64

/*
 * A zeroed sandbox of SIZE bytes: a test's struct whose first member, a
 * char[TU_SANDBOX_DIR], names a fresh folder made by tu_mkdtemp(TAG).  NULL
 * when it cannot be made (for setup functions).
 */
void *tu_sandbox_new(size_t size, const char *tag);

/* rm -rf sandbox S's folder and free S (NULL: nothing); 0, or -1 when the folder stays. */
int tu_sandbox_free(void *s);

/* ---- certificates ---- */

/* A self-signed CA certificate for KEY named CN (valid a minute ago to a day on) into *OUT; 0 or -1. */
int tu_self_signed(EVP_PKEY *key, const char *cn, X509 **out);

/* ---- a fake QEMU ---- */

/*
 * A fake qemu-system-x86_64 in DIR/bin, put first in PATH, and a stand-in
 * guest in DIR/guest (vmlinuz, initramfs.cpio).  The fake writes its argv,
 * one a line, to $FAKE_QEMU_ARGS; then runs $FAKE_QEMU_GUEST with its stdin
 * and stdout on the guest agent's socket (a guest that answers the host),
 * or writes the file $FAKE_QEMU_EVENTS into it (a guest that only reports);
 * then sleeps $FAKE_QEMU_SLEEP seconds (0 when unset).  Given QMP
 * (`-chardev socket,id=qmp,fd=N`), it greets on fd N and answers every
 * line {"return":{}}, appending the line to $FAKE_QEMU_QMP, and ends (as a
 * guest that powers off) after system_powerdown.  The variables are unset
 * here.  *OLD_PATH gets PATH as it was, for tu_fake_qemu_remove.  0,
 * or -1 (for setup functions).
 */
int tu_fake_qemu_install(const char *dir, char **old_path);

/* Put PATH back to OLD_PATH and free it; NULL-safe. */
void tu_fake_qemu_remove(char *old_path);

/* ---- loopback ---- */

/* A TCP port of 127.0.0.1 that nothing listens on (bound, read, closed); fails the test if not. */
unsigned short tu_closed_port(void);

/* What tu_bounded() returns when the call did not end in time (or its child died). */
#define TU_HUNG (-100)

/*
 * Run FN(ARG) in a forked child killed after TIMEOUT_S seconds: FN's return
 * value, or TU_HUNG; the child's hl_error_last() into MSG (SIZE bytes).  For
 * calls that could block forever (a FIFO opened for reading) or that must
 * run in a process of their own (signal handlers).
 */
int tu_bounded(int (*fn)(void *), void *arg, int timeout_s, char *msg, size_t size);

/*
 * A child process that claims pid file PATH (hl_pidfile_claim, as a server,
 * an agent or a VM keeper does), leads its own process group and waits
 * until killed: its pid, once the claim is made.
 */
pid_t tu_pidfile_holder(const char *path);

/*
 * The VM keeper command for hosts_vm_start in tests (struct
 * hosts_vm_start's keeper): helper_keeper, next to the test program.
 */
const char *const *tu_keeper(void);

/* ---- an HGS node ---- */

/*
 * The lab's HGS node "MyHgsService" of relecloud.com in TRUST mode (listen
 * 127.0.0.1:0), created at DIR and opened with its keys into *OUT
 * (hgs_node_create, hgs_node_open with HGS_NODE_OPEN_KEYS); on the
 * PostgreSQL variant (teststore.h) its state is moved onto a fresh database
 * named in DIR/store first.  0, or -1 with the reason in hl_error_last()
 * (for setup functions).
 */
int tu_hgs_node(const char *dir, enum hgs_mode trust, struct hgs_node **out);

/* ---- TPM objects ---- */

/* An ECC P-256 ECDSA/SHA-256 key template with object attributes ATTRS into *TMPL (zeroed). */
void tu_tpm_ecc_template(TPM2B_PUBLIC *tmpl, TPMA_OBJECT attrs);

/* ---- tpm2_eventlog (tpm2-tools) as the reference for TCG logs ---- */

/* One bank of the "pcrs:" section tpm2_eventlog prints. */
struct tu_eventlog_bank {
	char name[32];                                    /* as printed: "sha1", "sha256" ... */
	uint16_t alg;                                     /* 0 when hl_tcglog_alg_from_name() does not know NAME */
	uint32_t present;                                 /* bit N: PCR N was printed */
	uint8_t pcr[HL_TCGLOG_PCRS][HL_TCGLOG_MAX_DIGEST];
	size_t size[HL_TCGLOG_PCRS];                      /* bytes of each printed value */
};

/* What tpm2_eventlog said about one log. */
struct tu_eventlog {
	int status;                       /* pclose() status: 0 when it exited 0 */
	size_t nevents;                   /* "- EventNum:" entries (crypto-agile logs only) */
	size_t nbanks;
	struct tu_eventlog_bank banks[HL_TCGLOG_MAX_ALGS];
	size_t npcrs;                     /* PCR values printed, all banks */
	char first_err[512];              /* the first line it wrote to stderr ("" when none) */
	size_t nwarnings;                 /* "WARN" lines on stderr */
	size_t nmismatch;                 /* of which "Event N's digest does not match its payload" */
	size_t mismatch[16];              /* their event numbers (the first 16) */
};

/*
 * Run tpm2_eventlog on the log file PATH and collect its event count, its
 * "pcrs:" section and its warnings into *OUT.  Fails the test only when the
 * program cannot be run at all or prints more banks or PCRs than a TCG log
 * can hold; a non-zero exit is OUT->status, for the caller to judge.
 */
void tu_tpm2_eventlog(const char *path, struct tu_eventlog *out);

#endif
